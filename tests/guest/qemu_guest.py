"""Build (once, cached) and boot the QEMU guest that gives the test a kernel with v4l2loopback.

The host kernel of a CI machine usually has no V4L2 and cannot load modules, so the virtual
camera is proven inside a small guest: Debian's stock kernel, an initramfs with busybox and the
modules, and the host's own / (read-only, over virtio-9p) as the guest's userland. A job folder
is shared read-write; the guest runs its run.sh and powers off.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
QEMU = "qemu-system-x86_64"
MISSING_TOOL = 3  # build_guest.sh's exit status when the machine lacks a tool or an apt list
MIN_FREE_BYTES = 1 << 30
# TCG emulates AVX several times slower than SSE: with AVX hidden, ONNX Runtime and OpenCV take
# their SSE paths and the segmentation model runs ~2x faster in the guest.
TCG_CPU = "max,-avx,-avx2,-fma,-f16c"  # the kernel packages unpack to ~400 MB while the guest is built


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "livecam-guest"
    return Path(os.environ.get("LIVECAM_GUEST_CACHE") or default)


def blocker() -> str | None:
    """Why this machine cannot run the guest at all, or None when it can."""
    if os.uname().machine != "x86_64":
        return f"the guest is an x86-64 Debian kernel and this machine is {os.uname().machine}"
    for tool, package in ((QEMU, "qemu-system-x86"), ("apt-get", "apt"), ("ffmpeg", "ffmpeg"), ("v4l2-ctl", "v4l-utils")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (bash tests/guest/ci_setup.sh installs {package})"
    cache = cache_dir()
    probe = cache if cache.exists() else next(p for p in cache.parents if p.exists())
    if not any(cache.glob("*/complete")) and shutil.disk_usage(probe).free < MIN_FREE_BYTES:
        return f"less than 1 GiB free at {probe} to build the guest kernel"
    return None


def accelerator() -> str:
    """KVM where the host has hardware virtualisation, else TCG (software emulation).

    /dev/kvm alone is not enough: a paravirtual KVM (kvm_pvm) cannot boot a stock kernel
    (QEMU fails to set MSR 0x10a, or the boot crawls), so only kvm_intel/kvm_amd count.
    LIVECAM_GUEST_ACCEL=kvm|tcg overrides the guess.
    """
    forced = os.environ.get("LIVECAM_GUEST_ACCEL", "").lower()
    if forced in ("kvm", "tcg"):
        return forced
    hardware = any(Path("/sys/module", m).is_dir() for m in ("kvm_intel", "kvm_amd"))
    usable = os.access("/dev/kvm", os.R_OK | os.W_OK)
    return "kvm" if hardware and usable else "tcg"


class GuestUnavailable(Exception):
    """The guest cannot be built here for a reason outside the project (a missing tool)."""


def build() -> Path:
    """The cached guest folder (vmlinuz, initrd.img), built on first use."""
    cache = cache_dir()
    proc = subprocess.run(
        ["bash", str(HERE / "build_guest.sh"), str(cache)], capture_output=True, text=True, timeout=1200
    )
    if proc.returncode == MISSING_TOOL:
        raise GuestUnavailable(proc.stderr.strip().splitlines()[-1])
    if proc.returncode != 0:
        raise RuntimeError(f"build_guest.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


@dataclass
class Boot:
    accel: str
    wall_s: float
    console: str
    exit_status: str | None  # run.sh's exit status as the guest wrote it; None if it never finished
    guest_log: str


def boot(guest: Path, job: Path, memory_mib: int, timeout_s: float) -> Boot:
    """Boot the guest on ``job`` (which holds run.sh) and wait for it to power off."""
    accel = accelerator()
    model = os.environ.get("LIVECAM_GUEST_CPU") or ("host" if accel == "kvm" else TCG_CPU)
    cpu = ["-accel", "kvm" if accel == "kvm" else "tcg,thread=multi", "-cpu", model]
    cmd = [
        QEMU, "-nodefaults", "-no-reboot", "-display", "none", "-serial", "stdio", "-net", "none",
        *cpu, "-smp", str(min(2, os.cpu_count() or 1)), "-m", str(memory_mib),
        "-kernel", str(guest / "vmlinuz"), "-initrd", str(guest / "initrd.img"),
        "-append", "console=ttyS0 panic=-1 quiet loglevel=3",
        "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={job},mount_tag=job,security_model=none",
    ]  # fmt: skip
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s)
        console = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        console = out + f"\n(the guest was stopped after {timeout_s:.0f} s)"
    wall = time.monotonic() - started
    status_file = job / "exit-status"
    log_file = job / "guest.log"
    return Boot(
        accel=accel,
        wall_s=wall,
        console=console,
        exit_status=status_file.read_text().strip() if status_file.exists() else None,
        guest_log=log_file.read_text(errors="replace") if log_file.exists() else "",
    )
