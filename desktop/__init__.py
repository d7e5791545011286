"""InferDesk: score images and tables with an ONNX model on your own workstation."""

__version__ = "0.1.0"
