"""InferDesk: score images and tables with an ONNX model on your own workstation."""

import os as _os

# onnxruntime keeps a telemetry device id and event database under ~/.cache/Microsoft unless this
# is set before it is imported. InferDesk sends nothing anywhere and writes only what it says it does.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
