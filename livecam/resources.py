"""Where bundled files live: inside the installed package (``livecam/assets``), else the source tree."""
from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def asset_path(*parts: str) -> Path:
    for root in (PACKAGE / "assets", PACKAGE.parent / "assets"):
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    return PACKAGE.parent.joinpath("assets", *parts)


# LiveCam's own files: its package, its assets and its test photos (the benchmark's avatar photo).
_OWN_FOLDERS = (PACKAGE, PACKAGE.parent / "assets", PACKAGE.parent / "tests" / "fixtures")


def ships_with_livecam(path: Path) -> bool:
    """Whether ``path`` is one of LiveCam's own files, not the user's: no copy of it is kept among
    theirs (``livecam bench --effects swap`` put its sample photo in their avatar list)."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError):
        return False
    return any(real.is_relative_to(folder) for folder in _OWN_FOLDERS)


def demo_clip_path() -> Path:
    return asset_path("demo", "demo.mp4")


def background_images() -> list[Path]:
    folder = asset_path("backgrounds")
    from livecam.media import kind_by_suffix

    return sorted(p for p in folder.glob("*") if kind_by_suffix(p) == "image")
