"""Commands of the custody capability (being written)."""

from __future__ import annotations

from collections.abc import Callable

import typer

from ..config import Config


def register(app: typer.Typer, cfg: Callable[[], Config]) -> None:
    """Add this module's commands to `app`."""
