"""The package's import graph: layers import only downwards, and no module imports itself back.

Layers, lowest first: the package root (`eggroll_bench` and its modules: plugins, files) < envs < algos <
sweeps, benchmarks (side by side: neither imports the other) < plots < cli. Every import counts,
at module level or inside a function, since a lazy upward import is still an upward dependency.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "eggroll_bench"
LAYERS = {"": 0, "envs": 1, "algos": 2, "sweeps": 3, "benchmarks": 3, "plots": 4, "cli": 5}


def _modules() -> dict[str, Path]:
    out = {PACKAGE: ROOT / "__init__.py"}
    out.update({f"{PACKAGE}.{path.stem}": path for path in sorted(ROOT.glob("*.py")) if path.stem != "__init__"})
    for sub in LAYERS:
        if not sub:
            continue
        for path in sorted((ROOT / sub).glob("*.py")):
            name = f"{PACKAGE}.{sub}" + ("" if path.stem == "__init__" else f".{path.stem}")
            out[name] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package modules `name` imports (resolving `from pkg import module` to the module)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    sub = parts[1] if len(parts) > 1 and parts[1] in LAYERS else ""
    return sub, LAYERS[sub]


def test_the_graph_covers_the_package():
    assert {"eggroll_bench.envs.registry", "eggroll_bench.algos.runner", "eggroll_bench.sweeps.manager",
            "eggroll_bench.plots.render", "eggroll_bench.cli.sweep"} <= set(MODULES)
    assert "eggroll_bench.algos.config" in GRAPH["eggroll_bench.algos.registry"]


def test_no_module_imports_a_higher_layer_or_a_sibling_layer():
    bad = []
    for importer, targets in GRAPH.items():
        sub, level = _layer(importer)
        for target in targets:
            tsub, tlevel = _layer(target)
            if tlevel > level or (tlevel == level and tsub != sub):
                bad.append(f"{importer} -> {target}")
    assert not bad, "upward or sideways imports:\n" + "\n".join(sorted(bad))


def test_no_import_circles():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [node, nxt]) if nxt in path else f"{node} -> {nxt}")
            elif nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("code", [
    "from eggroll_bench.sweeps.sweepfile import load_sweep; load_sweep('{root}/sweeps/quick.toml')",
    "from eggroll_bench.sweeps.manager import directory_status",
    "from eggroll_bench.algos.registry import resolve; resolve('eggroll', None, {{'pop_size': 8}})",
])
def test_the_sweep_process_never_imports_jax(code):
    """Parsing a sweep, counting its trials and validating configs stay JAX-free (trials import it)."""
    script = f"import sys\n{code.format(root=ROOT)}\nprint('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_prng_setting_does_not_depend_on_import_order():
    """JAX imported before the package, or after: the same threefry setting either way."""
    for first in ("import jax; import eggroll_bench.envs", "import eggroll_bench.envs; import jax"):
        out = subprocess.run([sys.executable, "-c", f"{first}; print(jax.config.jax_threefry_partitionable)"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "False", first
