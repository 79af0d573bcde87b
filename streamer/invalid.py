"""The error raised for an input event that breaks the wire contract.

A module of its own because both ``contract`` (document rules) and
``timestamps`` (the ``ts`` rule) raise it, and the pipeline catches it to
dead-letter the event as ``invalid``; keeping it here lets each of those
import it without importing the others.
"""
from __future__ import annotations

from typing import Any

__all__ = ["InvalidEvent", "short_repr"]


class InvalidEvent(ValueError):
    """An event that breaks the contract. ``field`` names where; ``reason`` says what."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def short_repr(v: Any) -> str:
    """``repr(v)`` cut to 40 characters: an error message quotes the offending
    value, but a megabyte of it must not end up in the dead-letter topic."""
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."
