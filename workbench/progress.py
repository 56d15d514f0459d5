"""The one progress callback type: every long computation reports (fraction done 0..1, what is happening)."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def no_progress(fraction: float, message: str) -> None:
    """A `Progress` that reports nowhere, for callers that draw no bar."""
