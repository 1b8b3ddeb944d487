"""Device discovery and `livecam doctor` lines, against a fake /sys and /dev tree."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from livecam import devices, doctor


class FakeSystem:
    def __init__(self, root: Path) -> None:
        self.sys = root / "sys"
        self.dev = root / "dev"
        (self.sys / "class" / "video4linux").mkdir(parents=True)
        self.dev.mkdir()

    def node(self, number: int, name: str, loopback: bool = False, index: int = 0) -> None:
        d = self.sys / "class" / "video4linux" / f"video{number}"
        d.mkdir()
        (d / "name").write_text(name + "\n")
        (d / "index").write_text(f"{index}\n")
        if loopback:  # attributes only v4l2loopback creates
            (d / "max_openers").write_text("10\n")
            (d / "buffers").write_text("2\n")
            (d / "format").write_text("")
        (self.dev / f"video{number}").touch()

    def module(self, video_nr: str, exclusive_caps: str) -> None:
        params = self.sys / "module" / "v4l2loopback" / "parameters"
        params.mkdir(parents=True)
        (params / "video_nr").write_text(video_nr + "\n")
        (params / "exclusive_caps").write_text(exclusive_caps + "\n")


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSystem:
    system = FakeSystem(tmp_path)
    monkeypatch.setattr(devices, "SYSFS_ROOT", system.sys)
    monkeypatch.setattr(devices, "DEV_ROOT", system.dev)
    monkeypatch.setattr(platform, "system", lambda: "Linux")
    return system


def _lines(status: str) -> list[str]:
    return [sentence for s, sentence in doctor.diagnose() if s == status]


def test_livecam_device_with_exclusive_caps(fake: FakeSystem) -> None:
    fake.node(0, "Integrated Camera: Integrated C")
    fake.node(1, "Integrated Camera: Integrated C", index=1)  # the UVC metadata node
    fake.node(10, "LiveCam", loopback=True)
    fake.module("10,-1,-1,-1,-1,-1,-1,-1", "Y,N,N,N,N,N,N,N")
    assert devices.list_cameras() == [
        {"index": 0, "path": str(fake.dev / "video0"), "name": "Integrated Camera: Integrated C"}
    ]
    assert devices.list_virtual_cameras() == [
        {"path": str(fake.dev / "video10"), "label": "LiveCam", "exclusive_caps": True, "ready": True}
    ]
    assert devices.find_livecam_device() == str(fake.dev / "video10")
    ok = _lines("ok")
    assert any(s.startswith("Found 1 camera: 0: Integrated Camera") for s in ok)
    assert (
        f"Virtual camera {fake.dev / 'video10'} (LiveCam) is ready, with exclusive_caps=1 so Chrome and Meet list it."
        in ok
    )
    assert any("CPUExecutionProvider" in s for s in ok)
    assert not _lines("error")


def test_exclusive_caps_off_tells_how_to_reload(fake: FakeSystem) -> None:
    fake.node(10, "LiveCam", loopback=True)
    fake.module("10,-1,-1,-1,-1,-1,-1,-1", "N,N,N,N,N,N,N,N")
    assert devices.list_virtual_cameras()[0]["exclusive_caps"] is False
    (warning,) = [s for s in _lines("warn") if "exclusive_caps" in s]
    assert "Chrome and Meet will not list it: reload the module with exclusive_caps=1" in warning
    assert warning.endswith(devices.MODPROBE_FIX)


def test_no_loopback_gives_the_modprobe_line(fake: FakeSystem) -> None:
    assert devices.list_cameras() == []
    assert devices.list_virtual_cameras() == []
    assert devices.find_livecam_device() is None
    (error,) = _lines("error")
    assert error.startswith("No virtual camera: the v4l2loopback module is not loaded")
    assert error.endswith('sudo modprobe v4l2loopback devices=1 video_nr=10 card_label="LiveCam" exclusive_caps=1')
    assert any(s.startswith("No camera found") for s in _lines("warn"))


def test_auto_numbered_devices_map_to_their_exclusive_caps_entries(fake: FakeSystem) -> None:
    fake.node(2, "OBS Virtual Camera", loopback=True)
    fake.node(3, "LiveCam", loopback=True)
    fake.module("-1,-1,-1,-1,-1,-1,-1,-1", "N,Y,N,N,N,N,N,N")
    cams = {c["label"]: c["exclusive_caps"] for c in devices.list_virtual_cameras()}
    assert cams == {"OBS Virtual Camera": False, "LiveCam": True}
    assert devices.find_livecam_device() == str(fake.dev / "video3")


def test_unlabelled_loopback_and_unwritable_device(fake: FakeSystem) -> None:
    fake.node(5, "Dummy video device (0x0000)", loopback=True)
    (warning,) = [s for s in _lines("warn") if "labelled" in s]
    assert 'No v4l2loopback device is labelled "LiveCam"' in warning and devices.RELOAD_FIX in warning
    assert devices.list_virtual_cameras()[0]["exclusive_caps"] is None  # no module parameters to read


def test_device_node_not_writable(fake: FakeSystem, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.node(10, "LiveCam", loopback=True)
    fake.module("10", "Y")
    monkeypatch.setattr(devices.os, "access", lambda path, mode: False)
    assert devices.list_virtual_cameras()[0]["ready"] is False
    (error,) = _lines("error")
    assert "you may not write to it" in error and "usermod -aG video" in error


def test_windows_and_macos_point_to_obs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Windows")
    monkeypatch.setattr(devices, "list_cameras", lambda max_index=8: [])
    assert devices.list_virtual_cameras() == []
    obs = (
        "LiveCam sends video through OBS Studio's virtual camera; "
        + "install OBS Studio and start its Virtual Camera once."
    )
    assert ("info", obs) in doctor.diagnose()
