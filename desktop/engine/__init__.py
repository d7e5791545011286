"""The scoring engine: models, profiles, inputs, sessions and results. It never imports Qt."""

from .batch import default_workers, run_batch, run_batches
from .core import Engine
from .errors import Cancelled, EngineError, InputError, ModelError, ProfileError
from .inputs import InputItem, InputKind, expand_inputs
from .model import ModelInfo, TensorSpec, inspect_model
from .profile import Profile, Task, default_profile, load_profile, resolve_profile, save_profile
from .resultbatch import ResultBatch
from .results import Prediction, Result, Timings
from .session import Fallback, SessionSettings, available_providers

__all__ = [
    "Cancelled", "Engine", "EngineError", "InputError", "InputItem", "InputKind", "ModelError", "ModelInfo",
    "Fallback", "Prediction", "Profile", "ProfileError", "Result", "SessionSettings", "Task", "TensorSpec", "Timings",
    "available_providers", "default_profile", "default_workers", "expand_inputs", "inspect_model", "load_profile",
    "ResultBatch", "resolve_profile", "run_batch", "run_batches", "save_profile",
]
