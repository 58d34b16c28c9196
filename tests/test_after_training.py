"""After training: saved policies, resumable trials, `rollout` and its renderers, tracker logging.

Real training at tiny budgets, through the command line in subprocesses (a SIGKILL and a Ctrl-C
need a process of their own). The subprocesses compile through the test session's persistent
cache (tests/conftest.py), so only the first pays for compiling the trial; the reference run
trains once for the module.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eggroll_bench.sweeps.store import ResultsStore

REPO = Path(__file__).resolve().parents[1]
# 400k steps: a run of a few seconds, so that the Ctrl-C below lands mid-run even when this machine is
# loaded (at 120k the resumed run took 0.7 s and under load the signal came after it had ended).
TRAIN = ["train", "--algo", "openes", "--env", "CartPole-v1", "--seeds", "2", "--steps", "400000",
         "--set", "pop_size=8", "--set", "hidden=16", "--set", "depth=1", "--set", "eval_every=1",
         "--set", "eval_episodes=2", "--quiet"]
CURVE = ["seed", "env_steps", "updates", "return_mean", "return_std"]


# `python -m eggroll_bench.cli`, with SIGINT handled as a terminal's Ctrl-C is: a shell that starts
# pytest in the background without job control (`pytest &` in a script) leaves SIGINT ignored, every
# child inherits that, and the Ctrl-C test below would then never interrupt anything
INTERRUPTIBLE_CLI = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                     "runpy.run_module('eggroll_bench.cli', run_name='__main__', alter_sys=True)")


def cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy"}
    return subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE_CLI, *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, code: int = 0) -> tuple[str, str]:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == code, f"exit {proc.returncode}\n{stdout}\n{stderr}"
    return stdout, stderr


def curve(out: Path) -> pd.DataFrame:
    table = ResultsStore(out).read()
    evals = table[table["row_type"] == "eval"]
    return evals[CURVE].sort_values(["seed", "env_steps"]).reset_index(drop=True)


def trial_of(out: Path) -> str:
    ids = set(ResultsStore(out).read()["trial_id"])
    assert len(ids) == 1
    return ids.pop()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted training run, saving its policies (the default with --out)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    stdout, _ = finish(cli(*TRAIN, "--out", str(out)))
    assert "saved 2 policies" in stdout
    return out


def wait_for(predicate, proc: subprocess.Popen, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert proc.poll() is None, "the run ended before the signal could be sent: " + proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.005)


def test_killed_then_interrupted_trial_resumes_to_the_uninterrupted_curve(tmp_path, reference):
    out = tmp_path / "out"
    args = [*TRAIN, "--out", str(out), "--checkpoint-every", "0"]
    checkpoints = out / "checkpoints"

    # SIGKILL once a checkpoint exists: nothing but the checkpoint is left
    proc = cli(*args)
    wait_for(lambda: checkpoints.is_dir() and any(checkpoints.glob("*.msgpack")), proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    (ckpt,) = checkpoints.glob("*.msgpack")
    assert not ResultsStore(out).finished()

    # rerun, and Ctrl-C it once it has checkpointed past where it resumed
    first = ckpt.stat().st_mtime_ns
    proc = cli(*args)
    wait_for(lambda: ckpt.exists() and ckpt.stat().st_mtime_ns != first, proc)
    os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 130, stderr
    assert "resuming trial" in stdout
    assert "Traceback" not in stderr and str(ckpt) in stderr and "resume" in stderr
    table = ResultsStore(out).read()
    assert set(table["row_type"]) == {"eval"} and set(table["status"]) == {"interrupted"}
    assert not ResultsStore(out).finished()  # an interrupted trial is still pending

    # the last rerun resumes again and finishes: every evaluation point equals the uninterrupted run's
    stdout, _ = finish(cli(*args))
    assert "resuming trial" in stdout
    pd.testing.assert_frame_equal(curve(out), curve(reference))
    assert not ckpt.exists()  # deleted once the trial's results are written
    assert set(ResultsStore(out).read()["status"]) == {"done"}


def test_saved_policy_loads_and_acts_as_recorded(reference):
    import jax

    from eggroll_bench.algos.policy import PolicyError, load_policy, policy_paths, save_policy
    from eggroll_bench.algos.rollout import run_episodes

    tid = trial_of(reference)
    final = ResultsStore(reference).read().query("row_type == 'final'").set_index("seed")
    policies = {}
    for seed in (0, 1):
        policy = load_policy(reference, tid, seed)
        meta = policy.meta
        assert (meta["algo"], meta["env"], meta["seed"], meta["trial_id"]) == ("openes", "CartPole-v1", seed, tid)
        assert meta["env_steps"] == final.loc[seed, "env_steps"] and meta["hparams"]["hidden"] == 16
        assert meta["policy_bytes"] == policy_paths(reference, tid, seed)[0].stat().st_size
        assert set(meta["versions"]) >= {"jax", "flax", "craftax", "jumanji", "kinetix-env", "navix"}
        assert meta["code_version"] == final.loc[seed, "code_version"] and meta["code_version"].startswith("0.")
        assert meta["plugins"] == []  # the modules rollout must import first (none for a built-in algorithm)
        policies[seed] = policy
    # a callable policy, deterministic (greedy) and different per seed
    obs = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
    a0 = np.asarray(policies[0](obs, jax.random.PRNGKey(1)))
    assert a0.shape == (64,) and np.array_equal(a0, np.asarray(policies[0](obs, jax.random.PRNGKey(2))))
    assert not np.array_equal(jax.tree.leaves(policies[0].state), jax.tree.leaves(policies[1].state))
    returns = run_episodes(policies[0].algorithm.env, policies[0].act, jax.random.PRNGKey(0), 4).returns
    assert np.isfinite(np.asarray(returns)).all()
    # a policy whose sidecar names another network is refused, naming the array that does not fit
    state_path, meta_path = policy_paths(reference, tid, 0)
    wrong = json.loads(meta_path.read_text())
    wrong["hparams"]["hidden"] = 32
    bad = save_policy(reference.parent / "bad", tid, 0, policies[0].state, wrong)[0]
    with pytest.raises(PolicyError, match="expects float32"):
        load_policy(bad.parents[2], tid, 0)
    with pytest.raises(PolicyError, match="saved seeds: 0, 1"):
        load_policy(reference, tid, 7)


def test_rollout_command_prints_returns_and_draws_a_gif(reference, tmp_path):
    from PIL import Image

    tid = trial_of(reference)
    gif = tmp_path / "cartpole.gif"
    stdout, _ = finish(cli("rollout", str(reference), "--trial", tid, "--seed", "1", "--episodes", "3",
                           "--max-frames", "40", "--out", str(gif)))
    assert "over 3 episodes" in stdout
    assert f"-> {gif}" in stdout  # on the base install: pygame, gymnax's classic-control renderer, comes with it
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames > 1
    _, stderr = finish(cli("rollout", str(reference), "--trial", "0123456789ab"), 2)
    assert "no saved policy" in stderr and tid in stderr
    _, stderr = finish(cli("rollout", str(reference), "--trial", tid, "--out", str(tmp_path / "x.mp4")), 2)
    assert ".gif" in stderr and ".html" in stderr


def test_no_save_and_no_out_write_no_policies(tmp_path):
    stdout, _ = finish(cli(*TRAIN, "--out", str(tmp_path / "out"), "--no-save"))
    assert "saved" not in stdout and not (tmp_path / "out" / "policies").exists()
    assert ResultsStore(tmp_path / "out").finished()
    _, stderr = finish(cli(*TRAIN, "--checkpoint-every", "-1"), 2)
    assert "--checkpoint-every" in stderr


SWEEP = """
name = "after"
algos = ["openes"]
tasks = ["CartPole-v1"]
seeds = 2
budget = 400000
{extra}
[set]
pop_size = 8
hidden = 16
depth = 1
eval_every = 1
eval_episodes = 2
"""


def test_sweep_saves_policies_unless_told_not_to(tmp_path, reference):
    """The same configuration as `train`'s (one cached compile): a sweep trial saves every seed's policy
    and leaves no checkpoint behind; `save_policies = false` and `--no-save` save none."""
    on, off = tmp_path / "on.toml", tmp_path / "off.toml"
    on.write_text(SWEEP.format(extra=""))
    off.write_text(SWEEP.format(extra="save_policies = false"))
    finish(cli("sweep", str(on), "--out", str(tmp_path / "on"), "--in-process", "--checkpoint-every", "0"))
    tid = trial_of(tmp_path / "on")
    assert tid == trial_of(reference)  # the same resolved configuration is the same trial
    assert sorted(p.name for p in (tmp_path / "on" / "policies" / tid).iterdir()) == \
        ["seed_0.json", "seed_0.msgpack", "seed_1.json", "seed_1.msgpack"]
    assert not any((tmp_path / "on" / "checkpoints").glob("*"))
    pd.testing.assert_frame_equal(curve(tmp_path / "on"), curve(reference))
    finish(cli("sweep", str(off), "--out", str(tmp_path / "off"), "--in-process"))
    finish(cli("sweep", str(on), "--out", str(tmp_path / "no-save"), "--in-process", "--no-save"))
    for out in ("off", "no-save"):
        assert ResultsStore(tmp_path / out).finished() and not (tmp_path / out / "policies").exists()
    off.write_text(SWEEP.format(extra="save_policies = 1"))
    _, stderr = finish(cli("sweep", str(off), "--out", str(tmp_path / "bad")), 2)
    assert "save_policies = 1: expected true or false" in stderr and not (tmp_path / "bad").exists()


@pytest.mark.parametrize("task", ["Breakout-MinAtar", "MPE_simple_spread_v3"])
def test_render_draws_a_multi_frame_gif(task, tmp_path):
    """A real task through its library's renderer, acting with a freshly initialised policy."""
    import jax
    from PIL import Image

    from eggroll_bench.algos.registry import get_algorithm, resolve
    from eggroll_bench.envs.registry import get_task, make
    from eggroll_bench.envs.render import record_episode, render, renderer

    env = make(task)
    algorithm = get_algorithm("ppo").make(env, resolve("ppo", get_task(task).defaults, {}), 10**6)
    act = algorithm.eval_act(algorithm.init(jax.random.PRNGKey(0)))
    episode = record_episode(env, act, jax.random.PRNGKey(1), max_frames=12)
    assert renderer(env) == "gif" and 1 < episode.length <= 12
    path = render(env, episode, tmp_path / f"{task}.gif")
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == episode.length


def test_brax_renders_html(tmp_path):
    """Five steps of hopper: compiling brax's step dominates (about 50 s on the shared 2-core CPU)."""
    import jax

    from eggroll_bench.algos.registry import get_algorithm, resolve
    from eggroll_bench.envs.registry import get_task, make
    from eggroll_bench.envs.render import record_episode, render

    env = make("hopper")
    algorithm = get_algorithm("openes").make(env, resolve("openes", get_task("hopper").defaults, {}), 10**6)
    episode = record_episode(env, algorithm.eval_act(algorithm.init(jax.random.PRNGKey(0))), jax.random.PRNGKey(1),
                             max_frames=5)
    text = render(env, episode, tmp_path / "hopper.html").read_text()
    assert "<html>" in text and episode.length == 5
    # the page carries the trajectory as base64 zlib JSON: one entry per frame
    system = json.loads(zlib.decompress(base64.b64decode(re.search(r'var system = "([^"]+)"', text).group(1))))
    assert len(system["states"]["x"]) == episode.length


def _tensorboard_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the event files under `logdir` (TFRecord framing, tensorboardX's protos)."""
    from tensorboardX.proto import event_pb2

    out: dict[str, list[tuple[int, float]]] = {}
    for path in logdir.rglob("events.out.tfevents.*"):
        data = path.read_bytes()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            event = event_pb2.Event.FromString(data[pos + 12:pos + 12 + length])
            pos += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((event.step, value.simple_value))
    return out


def test_tensorboard_logs_the_evaluation_points_and_timings(tmp_path):
    pytest.importorskip("tensorboardX", reason='the [log] extra is not installed: pip install -e ".[log]"')
    out = tmp_path / "out"
    finish(cli(*TRAIN, "--out", str(out), "--no-save", "--log", "tensorboard"))
    expected = curve(out)
    runs = sorted((out / "tensorboard").iterdir())
    assert [r.name.rsplit("seed", 1)[1] for r in runs] == ["0", "1"]
    scalars = _tensorboard_scalars(runs[1])
    got = sorted(scalars["return_mean"])
    want = expected[expected["seed"] == 1]
    assert [s for s, _ in got] == list(want["env_steps"])
    np.testing.assert_allclose([v for _, v in got], want["return_mean"], rtol=1e-6)
    assert {"final/compile_s", "final/run_s", "final/steps_per_s", "wall_s", "return_std"} <= set(scalars)


def test_wandb_logs_offline_without_a_login(tmp_path, monkeypatch):
    pytest.importorskip("wandb", reason='the [log] extra is not installed: pip install -e ".[log]"')
    out = tmp_path / "out"
    monkeypatch.delenv("WANDB_MODE", raising=False)  # the subprocess must choose offline by itself
    finish(cli(*TRAIN, "--out", str(out), "--no-save", "--log", "wandb"))
    runs = sorted((out / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    tid = trial_of(out)
    logged = b"".join(next(r.glob("*.wandb")).read_bytes() for r in runs)  # protobuf records: keys stored as text
    for key in ("return_mean", "return_std", "wall_s", "env_steps", "compile_s", "run_s", "steps_per_s",
                f"openes-CartPole-v1-{tid}-seed0", f"openes-CartPole-v1-{tid}-seed1"):
        assert key.encode() in logged, key


def _seed_result(seed: int, returns: list[float]):
    from eggroll_bench.algos.result import EvalPoint, SeedResult

    evals = tuple(EvalPoint(100 * (k + 1), k + 1, r, 0.5, 0.1 * (k + 1)) for k, r in enumerate(returns))
    return SeedResult(seed, "done", "", 100 * len(returns), len(returns), evals)


def test_a_retried_trial_replaces_its_tensorboard_runs(tmp_path):
    pytest.importorskip("tensorboardX", reason='the [log] extra is not installed: pip install -e ".[log]"')
    from eggroll_bench.algos.result import TrainResult
    from eggroll_bench.sweeps.store import failed_result
    from eggroll_bench.sweeps.trackers import make_tracker

    tracker = make_tracker("tensorboard", tmp_path)
    failed = failed_result("openes", "CartPole-v1", {"lr": 0.1}, 300, [0, 1], "killed by SIGKILL")
    tracker.log_trial(failed, "aaaaaaaaaaaa", "s")  # the first attempt: failed, final status only
    time.sleep(1.1)  # event files are named by the second: a later attempt's must not merely overwrite it
    retry = TrainResult("openes", "CartPole-v1", {"lr": 0.1}, 300, (_seed_result(0, [1.0, 2.0, 3.0]),
                        _seed_result(1, [4.0, 5.0, 6.0])), 1.0, 2.0, "cpu", {})
    tracker.log_trial(retry, "aaaaaaaaaaaa", "s")
    tracker.log_trial(retry, "aaaaaaaaaaaa", "s")  # logged once more (a rerun): still one set
    runs = sorted((tmp_path / "tensorboard").iterdir())
    assert [r.name for r in runs] == ["openes-CartPole-v1-aaaaaaaaaaaa-seed0", "openes-CartPole-v1-aaaaaaaaaaaa-seed1"]
    for run, want in zip(runs, ([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])):
        assert len(list(run.glob("events.out.tfevents.*"))) == 1
        scalars = _tensorboard_scalars(run)
        assert scalars["return_mean"] == [(100, want[0]), (200, want[1]), (300, want[2])]
        assert scalars["final/env_steps"] == [(300, 300.0)]  # the failed attempt's (0 steps) is gone


def test_a_retried_trial_resumes_its_wandb_run(tmp_path):
    """wandb is not in the base install: the arguments its runs are opened with are what is checked."""
    from eggroll_bench.algos.result import TrainResult
    from eggroll_bench.sweeps.trackers import WandbTracker

    result = TrainResult("openes", "CartPole-v1", {"lr": 0.1}, 300, (_seed_result(0, [1.0]),), 1.0, 2.0, "cpu", {})
    tracker = WandbTracker(tmp_path / "a")
    first = tracker.init_args(result, "aaaaaaaaaaaa", "s", 0)
    assert first["resume"] == "allow" and first["id"] == WandbTracker(tmp_path / "a").init_args(
        result, "aaaaaaaaaaaa", "s", 0)["id"]  # a later process (the retry) opens the same run
    ids = {first["id"], tracker.init_args(result, "aaaaaaaaaaaa", "s", 1)["id"],
           tracker.init_args(result, "bbbbbbbbbbbb", "s", 0)["id"],
           WandbTracker(tmp_path / "b").init_args(result, "aaaaaaaaaaaa", "s", 0)["id"]}
    assert len(ids) == 4  # per seed, per trial, per results directory
    assert all(not set(i) & set("/\\#?%:") for i in ids)  # characters wandb refuses in an id
