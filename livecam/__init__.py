"""LiveCam: a virtual camera for video calls with background, touch-up, low-light and avatar effects."""
import os
import sys

# ONNX Runtime's own telemetry (a device id, an event queue under ~/.cache/Microsoft and DNS lookups for
# its events server) starts when onnxruntime is first imported unless this is set; its
# disable_telemetry_events() does not stop it. Every entry point imports this package first, and child
# processes inherit the variable. Set, not defaulted: an inherited "0" must not turn it back on.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
# A program that imported onnxruntime before livecam has telemetry running already; doctor says so.
ORT_LOADED_FIRST = "onnxruntime" in sys.modules

__version__ = "0.1.0"

__all__ = ["__version__", "Settings", "Pipeline"]


def __getattr__(name: str):
    # Lazy so `livecam --version` and `import livecam` stay fast and never load OpenCV or ONNX Runtime.
    if name == "Settings":
        from livecam.settings import Settings

        return Settings
    if name == "Pipeline":
        from livecam.pipeline import Pipeline

        return Pipeline
    raise AttributeError(name)
