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
    hlo = compiled.updates.as_text()
    outs = jax.tree.leaves(compiled.updates.output_shardings)
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
out["unsplit_ok"] = bool(train("ppo", "CartPole-v1", [0], {"num_envs": 3, "num_steps": 8, "num_minibatches": 1,
                                                             "eval_every": 1, "eval_episodes": 2, "hidden": 8},
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
        assert out[algo]["collectives"], f"{algo}: no cross-device collective in the compiled updates"
    assert out["ppo"]["partitioned_outputs"] > 0  # PPO's environment states stay split between chunks
    assert out["refusals"] == [
        "num_envs=3 cannot be split evenly over 2 devices; use 2 or 4 (a multiple of 2), or turn sharding off "
        "(--no-shard)",
        "pop_size=7 cannot be split evenly over 2 devices; use 6 or 8 (a multiple of 2), or turn sharding off "
        "(--no-shard)"]
    assert out["unsplit_ok"]
