"""Explanations of one result from forward passes only: occlusion, RISE, D-RISE, KernelSHAP, and their sanity checks."""

from .occlusion import occlusion
from .result import Explanation, TableExplanation
from .rise import drise, rise
from .sanity import randomised_copy, sanity_check
from .tabular import kernel_shap

#: the methods by name, as an explanation's ``call`` names them (sanity.rerun)
METHODS = {"occlusion": occlusion, "rise": rise, "drise": drise, "kernel_shap": kernel_shap, "kernelshap": kernel_shap}

__all__ = ["Explanation", "METHODS", "TableExplanation", "drise", "kernel_shap", "occlusion", "randomised_copy",
           "rise", "sanity_check"]
