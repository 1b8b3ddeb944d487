"""One settings field declared once: its default, range, words for people and how a user sets it.

``setting(...)`` returns a dataclass field whose metadata the rest of LiveCam derives from:
validation (ranges, choices), the command-line flag and its help, the GUI control (slider range
and step, value format, file kind) and presets. Nothing here imports cv2, numpy or Qt, so the
settings types stay cheap to import.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_type_hints

FileKind = Literal["image", "video", "color", "source"]


@dataclass(frozen=True)
class Meta:
    label: str = ""  # the words a person sees (GUI); empty: the field has no control of its own
    help: str = ""  # one line for --help and tooltips
    range: tuple[float, float] | None = None  # inclusive numeric range
    step: float = 1  # slider step for a ranged number
    fmt: str = "{:g}"  # how a value is shown next to its slider, e.g. "{:.0f}%"
    flag: str | None = None  # command-line flag ("--blur"); None: no flag
    metavar: str | None = None
    implies: Mapping[str, Any] = dataclasses.field(default_factory=dict)  # other fields of the section a flag sets too
    choices: Mapping[str, str] = dataclasses.field(default_factory=dict)  # Literal value -> words, in display order
    file: FileKind | None = None  # the field holds a path (or colour) picked in a dialog
    max_length: int = 4096  # strings (paths) longer than this are refused
    # For a Literal field's flag: a value that is not a choice is a file, put into the field named
    # for its media kind ({"image": "image", "video": "video"}), which implies the mode.
    or_file: Mapping[str, str] = dataclasses.field(default_factory=dict)


def setting(default: Any, **meta: Any) -> Any:
    """A dataclass field with ``Meta(**meta)``: ``blur: int = setting(60, range=(0, 100), flag="--blur")``."""
    return dataclasses.field(default=default, metadata={"livecam": Meta(**meta)})


def meta(f: dataclasses.Field) -> Meta:
    return f.metadata.get("livecam", _PLAIN)


_PLAIN = Meta()


def field_of(section_cls: type, name: str) -> dataclasses.Field:
    for f in dataclasses.fields(section_cls):
        if f.name == name:
            return f
    raise KeyError(f"{section_cls.__name__} has no field {name!r}")


@functools.lru_cache(maxsize=None)
def hints(section_cls: type) -> dict[str, Any]:
    """The field types of a settings section (resolved once: validation runs on every change)."""
    return get_type_hints(section_cls)


def literal_choices(section_cls: type, name: str) -> tuple[Any, ...]:
    """Allowed values of a Literal-typed field (empty for other types)."""
    return get_args(hints(section_cls)[name])


def value_type(section_cls: type, name: str) -> type:
    """The Python type a field holds: str for Literal[str, ...], else the annotation."""
    hint = hints(section_cls)[name]
    args = get_args(hint)
    return type(args[0]) if args else hint


def out_of_range(section_cls: type, name: str, value: Any) -> tuple[float, float] | None:
    """The declared range of a ranged number when ``value`` lies outside it, else None."""
    m = meta(field_of(section_cls, name))
    if m.range is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    lo, hi = m.range
    return None if lo <= value <= hi else (lo, hi)
