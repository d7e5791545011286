"""PyInstaller's entry script for the frozen ``inferdesk``: the same ``main`` as ``python -m desktop``."""

import os
import sys

# onnxruntime 1.2x/1.3x on Linux keeps a telemetry device ID and event database under
# ~/.cache/Microsoft/DeveloperTools unless this is set before it is imported; InferDesk sends nothing anywhere.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from desktop.__main__ import main  # noqa: E402

if __name__ == "__main__":
    import multiprocessing

    # the window scores in a child process (spawned): in a frozen app that child is this same
    # executable, and freeze_support() turns it into the child instead of a second window
    multiprocessing.freeze_support()
    sys.exit(main())
