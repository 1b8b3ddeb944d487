"""Values quoted in a message to the user, cut short: a 50 MB "path" or a 5000-digit number from a
broken settings file must never reach the terminal whole (nor fail to print at all)."""
from __future__ import annotations

from typing import Any

SHOWN = 120  # characters of a path or text shown in a message


def shown(value: object, limit: int = SHOWN) -> str:
    """``value`` as text, cut to ``limit`` characters with the full length noted."""
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text)} characters)"


def short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters; safe for any value (JSON containers are
    summarised, and a repr that cannot be made — an int over 4300 digits, a 1000-deep list — is
    named by its type)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'} of {len(value)} items"
    try:
        text = repr(value)
    except (ValueError, RecursionError):
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= limit else text[:limit] + "..."
