"""Atomic file writes: what every results, policy and checkpoint file is written with.

A reader (or a process that was killed and restarted) sees either the old file or the new one,
never a part: the bytes go to a temp file in the same directory, are fsynced, and `os.replace`
puts them in place; the directory is fsynced so the rename survives a crash. Temp files are
named `.<name>.<random>.tmp`, so a cleanup can tell them apart (`remove_temps`); a directory
created on the way (`make_dirs`) is fsynced in its parent, for the same reason. The process umask
is read, never set: setting it, even for a moment, races with other threads creating files.
Below every layer: no JAX.
"""
from __future__ import annotations

import contextlib
import os
import shutil
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


def umask() -> int:
    """The process umask, read without changing it: from /proc/self/status (Linux 4.7+), else
    from the mode a probe file gets. `os.umask(0)` then back would leave a window in which other
    threads' new files are created world-writable."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    return _umask_by_probe()


def _umask_by_probe() -> int:
    probe = Path(tempfile.mkdtemp())
    try:
        os.close(os.open(probe / "probe", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o777))
        return 0o777 & ~(probe / "probe").stat().st_mode
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def file_mode(path: Path) -> int:
    """`path`'s permissions, or those a new file gets under the umask (mkstemp would make 0600)."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        return 0o666 & ~umask()


def make_dirs(directory: Path) -> None:
    """`mkdir -p directory`, fsyncing each new directory's parent so that it survives a crash (a
    file renamed into a directory whose own entry was lost is lost with it)."""
    directory = Path(directory)
    if directory.is_dir():
        return
    make_dirs(directory.parent)
    with contextlib.suppress(FileExistsError):  # another writer made it meanwhile: fine
        directory.mkdir()
    fsync_dir(directory.parent)


def remove_temps(directory: Path, pattern: str = "*") -> None:
    """Remove the temp files (and temp directories) in `directory` left by killed writers of the
    files whose names match the glob `pattern` (`.<name>.<random>.tmp`; default: any file's).
    Call it where no live writer can be writing them: under a lock, or for files only the caller writes."""
    with contextlib.suppress(FileNotFoundError):  # no such directory: nothing to clean
        for tmp in Path(directory).glob(f".{pattern}.*{TMP_SUFFIX}"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()


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
    make_dirs(path.parent)
    replace_atomic(path, lambda f: f.write(data))
