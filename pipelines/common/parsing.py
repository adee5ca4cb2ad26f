"""Small text parsers for settings, with one-line errors that name the setting."""

from __future__ import annotations

from typing import Any

from vsr.errors import InputError


def parse_size(text: Any, setting: str, example: str = "320x180", minimum: int = 1) -> tuple[int, int]:
    """"320x180" (or [320, 180]) -> (320, 180)."""
    try:
        w, h = (int(v) for v in (text.lower().split("x") if isinstance(text, str) else text))
    except (ValueError, TypeError, AttributeError):
        raise InputError(f"expected WIDTHxHEIGHT, e.g. {example}", setting=setting, value=repr(text)) from None
    if w < minimum or h < minimum:
        raise InputError(f"{w}x{h} is too small (at least {minimum}x{minimum})", setting=setting, value=text)
    return w, h
