"""Provenance: every row, policy and checkpoint says which eggroll-bench and libraries produced it,
and a sweep resumed under other versions lists those trials and refuses to mix them unless told."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eggroll_bench import __version__
from eggroll_bench.algos.result import EvalPoint, SeedResult, TrainResult
from eggroll_bench.provenance import checkout_suffix, code_version, library_versions
from eggroll_bench.sweeps.manager import run_sweep
from eggroll_bench.sweeps.store import ResultsStore, rows_from_result
from eggroll_bench.sweeps.sweepfile import load_sweep
from eggroll_bench.sweeps.versions import MixedVersionsError

REPO = Path(__file__).resolve().parents[1]
git = shutil.which("git")


def run_git(root: Path, *args: str) -> str:
    return subprocess.run([git, "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.skipif(git is None, reason="needs git")
def test_a_checkout_is_named_by_its_commit_and_a_hash_of_its_code_changes(tmp_path):
    root = tmp_path / "repo"
    (root / "tests").mkdir(parents=True)
    (root / "algo.py").write_text("LR = 0.1\n")
    (root / "tests" / "test_x.py").write_text("def test(): pass\n")
    run_git(root, "init", "-q")
    run_git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "x", "--allow-empty")
    run_git(root, "add", "-A")
    run_git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    commit = run_git(root, "rev-parse", "HEAD")
    assert checkout_suffix(root) == f"+g{commit[:12]}"
    (root / "notes.md").write_text("not code\n")
    (root / "tests" / "test_x.py").write_text("def test(): assert 1\n")  # tests change no result
    assert checkout_suffix(root) == f"+g{commit[:12]}"
    (root / "algo.py").write_text("LR = 0.2\n")
    dirty = checkout_suffix(root)
    assert dirty.startswith(f"+g{commit[:12]}.dirty.") and checkout_suffix(root) == dirty  # same edits: same name
    (root / "algo.py").write_text("LR = 0.3\n")
    assert checkout_suffix(root) not in (dirty, f"+g{commit[:12]}")  # another uncommitted edit: another version
    (root / "algo.py").write_text("LR = 0.2\n")
    (root / "plugin.py").write_text("X = 1\n")  # an untracked module is code too
    assert checkout_suffix(root) not in (dirty, f"+g{commit[:12]}")
    assert checkout_suffix(tmp_path) == ""  # not the top of a checkout (an installed package)


def test_this_checkouts_version_and_every_library_are_recorded_without_importing_jax():
    code = ("import sys; from eggroll_bench.provenance import code_version, library_versions; "
            "import eggroll_bench.sweeps.versions; print(code_version()); print(sorted(library_versions())); "
            "print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    expected = __version__ + (f"+g{run_git(REPO, 'rev-parse', 'HEAD')[:12]}" if git and (REPO / ".git").exists() else "")
    assert out[0].startswith(expected) and out[0] == code_version()
    assert {"craftax", "jumanji", "kinetix-env", "navix", "jax", "flax", "python"} <= set(eval(out[1]))
    assert out[2] == "False"


def result(lr: float, code: str | None = None, versions: dict | None = None, seeds=(0, 1)) -> TrainResult:
    evals = (EvalPoint(100, 1, 1.0, 0.0, 0.1),)
    extra = {} if code is None else {"code_version": code}
    return TrainResult("openes", "CartPole-v1", {"lr": lr}, 20000, tuple(SeedResult(s, "done", "", 100, 1, evals)
                       for s in seeds), 1.0, 2.0, "fake", library_versions() if versions is None else versions, 1,
                       **extra)


def test_rows_record_the_code_version():
    (row, *_) = rows_from_result(result(0.1), sweep="s", trial_id="t", suite="core16", random_return=None)
    assert row["code_version"] == code_version() and json.loads(row["versions"])["navix"]


class OtherVersionTrain:
    """A stand-in for the runner of another eggroll-bench (or another jax): its results say so."""

    def __init__(self, code: str | None = None, versions: dict | None = None):
        self.code, self.versions, self.calls = code, versions, []

    def __call__(self, algo, env, seeds, overrides=None, total_steps=None, progress=True):
        self.calls.append(overrides["lr"])
        return result(overrides["lr"], self.code, self.versions, seeds)


SWEEP = """
name = "v"
out = "{out}"
algos = ["openes"]
tasks = ["CartPole-v1"]
seeds = 2
budget = 20000
[openes.grid]
lr = {lrs}
"""


def sweep_file(tmp_path: Path, lrs: list[float]):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.format(lrs=lrs, out=tmp_path / "out"))
    return load_sweep(path)


def test_a_sweep_resumed_under_another_version_lists_its_trials_and_refuses_to_mix(tmp_path):
    old = sweep_file(tmp_path, [0.01, 0.02])
    run_sweep(old, train=OtherVersionTrain(code="0.1.0+gdeadbeefdead"), log=lambda line: None)
    run_sweep(old, train=OtherVersionTrain(), log=lambda line: None)  # nothing pending: nothing to mix, no refusal
    grown = sweep_file(tmp_path, [0.01, 0.02, 0.03])  # one more trial to run under this version
    before = {p: p.read_bytes() for p in sorted((tmp_path / "out").rglob("*")) if p.is_file()}
    fresh = OtherVersionTrain()
    with pytest.raises(MixedVersionsError) as err:
        run_sweep(grown, train=fresh, log=lambda line: None)
    message = str(err.value)
    ids = sorted(t.trial_id for t in old.trials)
    assert f"2 by eggroll-bench 0.1.0+gdeadbeefdead (now {code_version()}): {', '.join(ids)}" in message
    assert "--allow-mixed-versions" in message and fresh.calls == []
    assert {p: p.read_bytes() for p in sorted((tmp_path / "out").rglob("*")) if p.is_file()} == before

    lines: list[str] = []
    run_sweep(grown, train=fresh, log=lines.append, allow_mixed_versions=True)
    assert fresh.calls == [0.03] and any("kept (--allow-mixed-versions)" in line for line in lines)
    codes = ResultsStore(grown.out).read().groupby("trial_id")["code_version"].first()
    assert sorted(codes) == sorted(["0.1.0+gdeadbeefdead"] * 2 + [code_version()])


def test_another_library_version_is_named_and_the_cli_exits_2(tmp_path, capsys):
    old_jax = {**library_versions(), "jax": "0.4.1"}
    run_sweep(sweep_file(tmp_path, [0.01]), train=OtherVersionTrain(versions=old_jax), log=lambda line: None)
    grown = sweep_file(tmp_path, [0.01, 0.02])
    from eggroll_bench.cli import main

    assert main(["sweep", str(grown.source), "--in-process"]) == 2
    err = capsys.readouterr().err
    assert f"1 by jax 0.4.1 (now {library_versions()['jax']}): {grown.trials[0].trial_id}" in err


def test_a_checkpoint_of_another_version_is_not_resumed_from_unless_allowed(tmp_path):
    import jax.numpy as jnp
    import numpy as np

    from eggroll_bench.algos.checkpoint import TrialArtifacts
    from eggroll_bench.algos.policy import pack_leaves, unpack_leaves
    from eggroll_bench.algos.runner import RunnerState

    state = RunnerState(algo_state={"w": jnp.arange(6.0).reshape(2, 3)}, key=jnp.zeros((2, 2), jnp.uint32),
                        eval_key=jnp.ones((2, 2), jnp.uint32), env_steps=jnp.array([40, 40]), updates=jnp.array([2, 2]))
    said: list[str] = []
    writer = TrialArtifacts(str(tmp_path), ("aaaaaaaaaaaa",), checkpoint_every_s=0, log=said.append)
    writer.resume(state, [0, 1])
    writer.after_chunk(state, [[], []], np.zeros(2, bool), ["", ""], 1.5)  # writes the checkpoint
    leaves, meta = unpack_leaves(writer.checkpoint.read_bytes(), writer.checkpoint)
    assert meta["code_version"] == code_version() and meta["versions"] == library_versions()
    assert TrialArtifacts(str(tmp_path), ("aaaaaaaaaaaa",), log=said.append).resume(state, [0, 1]) is not None
    # the same file as an older eggroll-bench would have written it
    writer.checkpoint.write_bytes(pack_leaves(leaves, {**meta, "code_version": "0.1.0+gdeadbeefdead"}))
    assert TrialArtifacts(str(tmp_path), ("aaaaaaaaaaaa",), log=said.append).resume(state, [0, 1]) is None
    assert "written by another version (eggroll-bench 0.1.0+gdeadbeefdead" in said[-1]
    allowed = TrialArtifacts(str(tmp_path), ("aaaaaaaaaaaa",), log=said.append, allow_mixed_versions=True)
    assert allowed.resume(state, [0, 1]).run_s == 1.5
