"""Writing files so that nothing is ever half-written: one atomic writer, and a run log.

Every file a run leaves behind (checkpoints, tables, JSON records, tracks' sidecars) goes through
:func:`atomic_write`: readers see the old file or the complete new one, even after SIGKILL.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_json", "run_logger"]


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> Path:
    """Call ``write(tmp_path)``, fsync, then rename over ``path``: readers see the old file or the new one.

    The temporary file is a hidden sibling (``.NAME.XXXX.tmp``) in the same folder, removed if
    ``write`` fails; the final file gets the mode a plain ``open()`` would give (umask applied).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the mode a plain open() would
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_json(path: str | os.PathLike, record, *, indent: int = 2) -> Path:
    """Write ``record`` as JSON (non-JSON values as ``str``) with a final newline, atomically."""
    return atomic_write_text(path, json.dumps(record, indent=indent, default=str) + "\n")


def run_logger(path: str | os.PathLike, *, quiet: bool = False) -> Callable[[str], None]:
    """A ``log(line)`` that appends ``HH:MM:SS line`` to ``path`` and, unless ``quiet``, prints to stderr."""
    handle = open(path, "a", buffering=1)

    def log(line: str) -> None:
        handle.write(f"{time.strftime('%H:%M:%S')} {line}\n")
        if not quiet:
            print(line, file=sys.stderr, flush=True)

    return log
