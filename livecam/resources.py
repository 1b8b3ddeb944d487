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


def demo_clip_path() -> Path:
    return asset_path("demo", "demo.mp4")


def background_images() -> list[Path]:
    folder = asset_path("backgrounds")
    from livecam.media import kind_by_suffix

    return sorted(p for p in folder.glob("*") if kind_by_suffix(p) == "image")
