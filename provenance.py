"""What produced a result: eggroll-bench's own version and the libraries' (rows, policies, checkpoints).

    code_version()      "0.2.0" installed from a wheel; "0.2.0+g85a16a3c1f2e" run from a clean git
                        checkout; "0.2.0+g85a16a3c1f2e.dirty.5f3a2b1c" from a checkout with changes
    library_versions()  {"jax": "0.10.2", "flax": ..., "craftax": "not installed", ..., "python": "3.11.9"}

A dirty checkout is named by its commit *and* a hash of what differs from it: the path and
content of every changed, added or untracked (not ignored) `.py` / `.toml` file, tests excluded
(they change no result). Two runs from the same edits compare equal, and any further edit to the
code compares different, which "commit + dirty" alone cannot tell apart: a sweep resumed after an
uncommitted fix would otherwise look like the same code. Editing notes, results or docs changes nothing.

Computed once per process and cheaply: reading the package's location, one `git status` (a few
ms; none when the package is not its own git checkout, e.g. installed from a wheel) and the
changed files. Imports nothing of the package's layers and no JAX: the sweep process, which
compares a directory's versions with its own before resuming, never loads JAX.
"""
from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from eggroll_bench import __version__

PACKAGE_DIR = Path(__file__).resolve().parent  # the repository root of a checkout (package-dir ".")
# what a run's results depend on: the package's code and its sweep files; tests are not part of a run
CODE_PATHSPECS = ("*.py", "*.toml", ":(exclude)tests")
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "gymnax", "brax", "jaxmarl",
             "craftax", "jumanji", "kinetix-env", "navix")  # the paper16 libraries too


@lru_cache(maxsize=1)
def code_version() -> str:
    """This eggroll-bench's version, with the git commit (and a hash of uncommitted changes) when it
    runs from a checkout."""
    return __version__ + checkout_suffix(PACKAGE_DIR)


def checkout_suffix(root: Path) -> str:
    """"+g<commit>" for a clean git checkout at `root`, "+g<commit>.dirty.<hash of the changes>" for
    one with changed code files, "" when `root` is not the top of a checkout."""
    commit, changed = _git_state(Path(root))
    if commit is None:
        return ""
    return f"+g{commit[:12]}" + (f".dirty.{_changes_hash(Path(root), changed)}" if changed else "")


def library_versions() -> dict[str, str]:
    """The installed versions of the libraries a result depends on ("not installed" for those absent)."""
    return dict(_library_versions())


@lru_cache(maxsize=1)
def _library_versions() -> tuple[tuple[str, str], ...]:
    out = []
    for name in LIBRARIES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            out.append((name, "not installed"))
    return (*out, ("python", platform.python_version()))


def provenance() -> dict[str, object]:
    """{"code_version": ..., "versions": {...}}: what a checkpoint records, and what a result's rows and
    its policies record in their own fields."""
    return {"code_version": code_version(), "versions": library_versions()}


def differences(held: dict, now: dict | None = None) -> list[str]:
    """How `held` (a `provenance()`, possibly of an older file lacking some keys) differs from this
    process's: e.g. ["eggroll-bench 0.2.0+gabc (now 0.2.0+gdef)", "jax 0.9.0 (now 0.10.2)"]; [] if the same."""
    now = now or provenance()
    out = []
    if (held.get("code_version") or "unknown") != now["code_version"]:
        out.append(f"eggroll-bench {held.get('code_version') or 'unknown'} (now {now['code_version']})")
    versions = held.get("versions") or {}
    for name, version in now["versions"].items():
        if versions.get(name, "unknown") != version:
            out.append(f"{name} {versions.get(name, 'unknown')} (now {version})")
    return out


def _git_state(root: Path) -> tuple[str | None, list[tuple[str, str]]]:
    """(HEAD's commit, [(status, path) of changed code files]), or (None, []) when `root` is not the
    top of a git checkout (the package installed elsewhere: its location is not a repository's)."""
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():  # a directory, or a file in a worktree
        return None, []
    try:
        out = subprocess.run([git, "-C", str(root), "status", "--porcelain=v2", "--branch", "-z",
                              "--untracked-files=all", "--", *CODE_PATHSPECS],
                             capture_output=True, timeout=30, check=True).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return None, []
    commit, changed = None, []
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if entry.startswith("# branch.oid "):
            oid = entry.split()[2]
            commit = None if oid == "(initial)" else oid
        elif entry[:2] in ("1 ", "u "):  # changed / unmerged: the path is the last field
            changed.append((entry.split(" ")[1], entry.split(" ", 8 if entry[0] == "1" else 10)[-1]))
        elif entry.startswith("2 "):  # renamed or copied: the new path, then the old one as its own entry
            changed.append((entry.split(" ")[1], entry.split(" ", 9)[-1]))
            i += 1
        elif entry.startswith("? "):
            changed.append(("?", entry[2:]))
    return commit, sorted(changed, key=lambda c: c[1])


def _changes_hash(root: Path, changed: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for status, path in changed:
        digest.update(f"{status}\0{path}\0".encode())
        try:
            digest.update((root / path).read_bytes())
        except OSError:  # deleted: its path and status say so
            digest.update(b"\0deleted")
        digest.update(b"\0")
    return digest.hexdigest()[:8]
