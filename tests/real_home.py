"""The developer's real model folder, read once before conftest points every test (and every thread
a test leaves behind) at throw-away folders. Tests that want the really fetched rvm use this."""
from livecam import model_fetch

REAL_MODELS = model_fetch.user_models_dir()
