"""LiveCam: a virtual camera for video calls with background, touch-up, low-light and avatar effects."""
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
