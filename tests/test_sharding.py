"""One trial over several devices: 2 CPU devices forced with XLA_FLAGS, in a fresh process.

The same seed gives the same returns (to a float tolerance: the sum over members crosses devices)
with the trial split over 2 devices as on one; the compiled program really is partitioned; and a
parallel axis that cannot be split evenly is refused before compiling, naming the nearest sizes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, jax, numpy as np
from eggroll_bench.algos.config import ConfigError
from eggroll_bench.algos.runner import _compile, resolve_group, static_key, train
assert jax.device_count() == 2, jax.devices()
out = {}
PPO = {"num_envs": 4, "num_steps": 32, "hidden": 8, "eval_every": 2, "eval_episodes": 4}
for name, algo, over in [("eggroll", "eggroll", {"pop_size": 8, "hidden": 8, "eval_every": 2, "eval_episodes": 4}),
                         ("ppo", "ppo", PPO), ("ppo-reset-pool", "ppo", {**PPO, "reset_pool": 2})]:
    split = train(algo, "CartPole-v1", [0, 1], over, 1500, progress=False)
    whole = train(algo, "CartPole-v1", [0, 1], over, 1500, progress=False, shard=False)
    (config,), budget = resolve_group(algo, "CartPole-v1", [over], 1500)
    compiled = _compile(algo, "CartPole-v1", static_key(config), budget, 2, None)
    hlo = compiled.chunk.as_text()
    outs = jax.tree.leaves(compiled.chunk.output_shardings)
    out[name] = {"split": [[e.return_mean for e in s.evals] for s in split.seeds],
                 "whole": [[e.return_mean for e in s.evals] for s in whole.seeds],
                 "collectives": any(op in hlo for op in ("all-reduce", "all-gather", "reduce-scatter", "all-to-all")),
                 "partitioned_outputs": sum(not s.is_fully_replicated for s in outs)}
refusals = []
for algo, over in [("ppo", {"num_envs": 3}), ("openes", {"pop_size": 7, "antithetic": False})]:
    try:
        train(algo, "CartPole-v1", [0], over, 1500, progress=False)
    except ConfigError as err:
        refusals.append(str(err))
out["refusals"] = refusals
# what was refused runs with sharding off (an ES program: a third of PPO's compile)
out["unsplit_ok"] = bool(train("openes", "CartPole-v1", [0], {"pop_size": 7, "antithetic": False, "hidden": 8,
                                                              "eval_every": 1, "eval_episodes": 2},
                               48, progress=False, shard=False).seeds)
print("RESULT" + json.dumps(out))
"""


def test_a_trial_split_over_two_devices_equals_one_device_and_is_partitioned():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    for algo in ("eggroll", "ppo", "ppo-reset-pool"):  # the pool draws starts across the split batch
        split, whole = out[algo]["split"], out[algo]["whole"]
        assert [len(s) for s in split] == [len(s) for s in whole]
        for a, b in zip(split, whole):
            # summation order across devices may differ in the last bits; returns are episode lengths here
            assert max(abs(x - y) for x, y in zip(a, b)) <= 1e-3 * max(1.0, max(map(abs, b))), (algo, a, b)
        assert out[algo]["collectives"], f"{algo}: no cross-device collective in the compiled chunk"
    assert out["ppo"]["partitioned_outputs"] > 0  # PPO's environment states stay split between chunks
    assert out["refusals"] == [
        "num_envs=3 cannot be split evenly over 2 devices; use 2 or 4 (a multiple of 2), or turn sharding off "
        "(--no-shard)",
        "pop_size=7 cannot be split evenly over 2 devices; use 6 or 8 (a multiple of 2), or turn sharding off "
        "(--no-shard)"]
    assert out["unsplit_ok"]


# A sweep's trial over 2 devices: pop_size 8 splits over 2, 7 (without antithetic pairs) cannot.
SWEEP = """
name = "split"
algos = ["openes"]
tasks = ["CartPole-v1"]
seeds = 2
budget = 20000
[set]
hidden = 16
depth = 1
eval_every = 2
eval_episodes = 2
antithetic = false
[openes.grid]
pop_size = [8, 7]
"""


def _sweep(path, out, env, *flags):
    """The sweep command; its process and its final rows by (pop_size, seed)."""
    from eggroll_bench.sweeps.store import ResultsStore

    proc = subprocess.run([sys.executable, "-m", "eggroll_bench.cli", "sweep", str(path), "--out", str(out),
                           "--no-group", *flags], capture_output=True, text=True, env=env, timeout=900)
    finals = ResultsStore(out).read().query("row_type == 'final'")
    return proc, {(json.loads(r.hparams)["pop_size"], int(r.seed)): r for r in finals.itertuples()}


def test_a_sweep_trial_with_two_devices_per_trial_is_split_and_equals_one_device(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    (tmp_path / "split.toml").write_text(SWEEP)
    (tmp_path / "one.toml").write_text(SWEEP.replace("[8, 7]", "[8]") + "\n[executor]\ndevices_per_trial = 1\n")
    split, rows = _sweep(tmp_path / "split.toml", tmp_path / "split", env, "--devices-per-trial", "2")
    one, one_rows = _sweep(tmp_path / "one.toml", tmp_path / "one", env)
    assert split.returncode == 1 and "local pool of 1 trial process (CPU, 2 host devices per trial)" in split.stdout
    # the trial saw 2 devices: pop_size 7 is refused as the runner refuses it on 2 devices
    assert {rows[(7, s)].status for s in (0, 1)} == {"failed"}
    assert "pop_size=7 cannot be split evenly over 2 devices" in rows[(7, 0)].error
    assert one.returncode == 0 and "local pool of 1 trial process (CPU)" in one.stdout
    for seed in (0, 1):  # the cross-device sum may change the last bits; returns are episode lengths here
        a, b = rows[(8, seed)], one_rows[(8, seed)]
        # a last-ulp difference in one fitness may end one episode a step apart: steps within 0.1%
        assert a.status == b.status == "done" and abs(a.env_steps - b.env_steps) <= 1e-3 * b.env_steps
        assert abs(a.return_mean - b.return_mean) <= 1e-3 * max(1.0, abs(b.return_mean))
