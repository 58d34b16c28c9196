"""Atomic file writes: what every results, policy and checkpoint file is written with.

A reader (or a process that was killed and restarted) sees either the old file or the new one,
never a part: the bytes go to a temp file in the same directory, are fsynced, and `os.replace`
puts them in place; the directory is fsynced so the rename survives a crash. Temp files are
named `.<name>.<random>.tmp`, so a cleanup can tell them apart. Below every layer: no JAX.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

TMP_SUFFIX = ".tmp"


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_mode(path: Path) -> int:
    """`path`'s permissions, or those a new file gets under the umask (mkstemp would make 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def replace_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Replace `path` with what `write(f)` writes: temp file in the same directory, fsync, `os.replace`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    try:
        os.fchmod(fd, file_mode(path))  # results are meant to be shared
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8), atomically."""
    replace_atomic(path, lambda f: f.write(text.encode("utf-8")))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data`, atomically, creating its directory if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomic(path, lambda f: f.write(data))
