"""A cache of each task's spec summary (observation shape, action space, agents, step limit), so
listing tasks (`eggroll-bench envs`) does not build every environment: building them all imports
gymnax, brax and jaxmarl and constructs each environment, about 25 s on a 2-core CPU.

The cache lives in `$XDG_CACHE_HOME/eggroll-bench/` (default `~/.cache/eggroll-bench/`), one file
per jax / jaxlib / Python version and version of this package's environment code, so two
virtualenvs (the base install and the `[paper]` one) keep separate files. Inside it each task's
entry carries the versions of the libraries its environment comes from and its factory, and is
rebuilt when those change. A cache that cannot be read or written is ignored: the summaries are
then built, as without a cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path

from eggroll_bench.envs import registry

CACHE_NAME = "eggroll-bench"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / CACHE_NAME


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "absent"


def _code_hash() -> str:
    """Hash of this package's environment code: an adapter change can change a spec."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_file() -> Path:
    key = json.dumps({"python": sys.version.split()[0], "jax": _version("jax"), "jaxlib": _version("jaxlib"),
                      "envs_code": _code_hash()}, sort_keys=True)
    return cache_dir() / f"specs-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def task_key(task) -> str:
    """What a task's spec depends on besides the shared key: its libraries' versions and its factory
    (memory addresses removed from the factory's repr, so the key is the same in every process)."""
    libraries = sorted({task.source, *(package for _, package, _ in task.requires)})
    factory = re.sub(r" at 0x[0-9a-fA-F]+", "", repr(task.factory))
    return json.dumps({"libraries": {lib: _version(lib) for lib in libraries}, "factory": factory}, sort_keys=True)


def summarise(spec) -> dict:
    """The spec fields a task listing shows, as JSON values."""
    return json.loads(json.dumps({
        "obs_shape": [int(d) for d in spec.obs_shape],
        "action_space": spec.action_space.describe(),
        "num_agents": int(spec.num_agents),
        "max_steps": None if spec.max_steps is None else int(spec.max_steps),
    }))


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)  # a concurrent reader sees the old file or the new one, never half of one
    except OSError:
        pass  # read-only home, full disk: listing still works, only slower next time


def spec_summaries(tasks) -> dict[str, dict]:
    """Task name -> `summarise(spec)`, from the cache where its entry is current, else built
    (`registry.make`) and stored."""
    path = cache_file()
    cached = _read(path)
    out, changed = {}, False
    for task in tasks:
        key = task_key(task)
        entry = cached.get(task.name)
        if not (isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("spec"), dict)):
            entry = {"key": key, "spec": summarise(registry.make(task.name).spec)}
            cached[task.name] = entry
            changed = True
        out[task.name] = entry["spec"]
    if changed:
        _write(path, cached)
    return out
