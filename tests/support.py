"""Small helpers shared by tests that start real processes (``moderate serve``, PostgreSQL)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def moderate_command() -> list[str]:
    """The installed ``moderate`` console script next to this interpreter, or ``python -m app.cli.main``."""
    script = Path(sys.executable).with_name("moderate")
    return [str(script)] if script.exists() else [sys.executable, "-m", "app.cli.main"]
