"""Built-in suites: one `Task` per task, registered by the registry on first use; see
docs/extending.md, "Adding an environment".

Budgets (env steps, every population member's / environment's every step counted):
- `budget_gpu`: sized for a full run on one GPU. Classic control follows PureJaxRL's PPO budgets
  scaled up for ES (which needs more samples); MinAtar and brax follow the EGGROLL paper's order
  of magnitude (tens of millions).
- `budget_quick`: a CPU smoke-and-learn run of a minute or two per algorithm on 2 cores.
`random_return`: mean team return of a uniform-random policy over 256 episodes, measured by
`python -m eggroll_bench.algos.measure_random` (seed 0); re-run it after changing a task.
"""
from __future__ import annotations

from functools import partial

import importlib
from typing import Any, Callable

from eggroll_bench.envs.task import Task


def _adapter(module: str, name: str) -> Callable[..., Any]:
    """The adapter class `name` of `envs.<module>`, imported when a task is built: the adapters
    import JAX and their libraries, which looking up a task's name or budget must not pay for."""
    def build(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(f"eggroll_bench.envs.{module}"), name)(*args, **kwargs)

    build.__qualname__ = name
    return build


BraxEnv = _adapter("brax_adapter", "BraxEnv")
CraftaxEnv = _adapter("craftax_adapter", "CraftaxEnv")
GymnaxEnv = _adapter("gymnax_adapter", "GymnaxEnv")
JaxMARLEnv = _adapter("jaxmarl_adapter", "JaxMARLEnv")
JumanjiEnv = _adapter("jumanji_adapter", "JumanjiEnv")
KinetixEnv = _adapter("kinetix_adapter", "KinetixEnv")
NavixEnv = _adapter("navix_adapter", "NavixEnv")

# What the registry registers on first use: this module only describes the built-in tasks.
TASKS: list[Task] = []
ALSO_IN: list[tuple[str, list[str]]] = []  # (suite, tasks of other suites that also belong to it)

M = 1_000_000

# Brax: observation normalisation on for every algorithm (brax observations span very different
# scales).
_BRAX_DEFAULTS = {"*": {"normalize_obs": True}}

# Pendulum: PPO with PureJaxRL's CartPole settings barely learns; these are rl-baselines3-zoo's
# tuned Pendulum-v1 PPO hyperparameters (γ 0.9, lr 1e-3, 10 epochs, no entropy bonus, and, as
# Stable-Baselines3's PPO by default, no value-loss clipping).
_PENDULUM_DEFAULTS = {"ppo": {"gamma": 0.9, "lr": 1e-3, "update_epochs": 10, "ent_coef": 0.0,
                              "clip_vloss": False}}
_CLASSIC_DEFAULTS = {"Pendulum-v1": _PENDULUM_DEFAULTS}

# --- core16: gymnax --------------------------------------------------------------------------
for name, gpu, quick, rnd in [
    ("CartPole-v1", 10 * M, 2 * M, 23.512),
    ("Acrobot-v1", 10 * M, 1 * M, -498.824),
    ("MountainCar-v0", 10 * M, 1 * M, -200.0),
    ("MountainCarContinuous-v0", 10 * M, 1 * M, -33.363),
    ("Pendulum-v1", 10 * M, 1 * M, -1253.436),
]:
    TASKS.append(Task(name, "core16", "gymnax", partial(GymnaxEnv, name), gpu, quick, rnd,
                  defaults=_CLASSIC_DEFAULTS.get(name, {})))

for name, rnd in [
    ("Asterix-MinAtar", 0.461),
    ("Breakout-MinAtar", 0.418),
    ("Freeway-MinAtar", 0.379),
    ("SpaceInvaders-MinAtar", 4.137),
]:
    TASKS.append(Task(name, "core16", "gymnax", partial(GymnaxEnv, name, flatten_obs=True), 20 * M, 1 * M, rnd,
                  notes="(10, 10, C) grid flattened to a vector"))

# --- core16: brax ----------------------------------------------------------------------------
for name, rnd in [
    ("ant", -169.88),
    ("halfcheetah", -103.599),
    ("hopper", 110.109),
    ("walker2d", 268.273),
    ("humanoid", 424.148),
    ("inverted_double_pendulum", 497.227),
    ("reacher", -830.462),
]:
    TASKS.append(Task(name, "core16", "brax", partial(BraxEnv, name), 50 * M, 1 * M, rnd,
                  defaults=_BRAX_DEFAULTS, notes="brax positional backend, 1000-step episodes"))

# --- marl: jaxmarl MPE (cooperative) ----------------------------------------------------------
# The paper's multi-agent preset (one shared policy of width 64, depth 3; adamw for ES). ES: σ 0.2,
# population 128 × 4 episodes — MPE start states vary a lot, so a member's fitness needs several
# episodes (on common starts, see ESConfig.common_starts). PPO (IPPO): JaxMARL's MPE settings but
# lr 1e-3, which learns simple_spread faster than their 2.5e-4 at CPU budgets. Measured on
# simple_spread, 8 seeds in one call, 1M steps (mean of the last 3 of 64-episode evaluations):
# lr 1e-3 -48.1 to -42.9, 5e-4 -53.6 to -50.1, 2.5e-4 -56.6 to -52.4, every seed learning. At a
# 500k budget (the lr annealed twice as fast) one seed of 8 with 1e-3 stayed near random (-97).
_MARL_ES = {"optimizer": "adamw", "sigma": 0.2, "pop_size": 128, "episodes_per_member": 4}
_MARL_DEFAULTS = {"*": {"hidden": 64, "depth": 3}, "eggroll": _MARL_ES, "openes": _MARL_ES, "ppo": {"lr": 1e-3}}
for name, rnd in [
    ("MPE_simple_spread_v3", -80.158),
    ("MPE_simple_reference_v3", -56.705),
    ("MPE_simple_speaker_listener_v4", -76.288),
]:
    TASKS.append(Task(name, "marl", "jaxmarl", partial(JaxMARLEnv, name), 20 * M, 2 * M, rnd,
                  defaults=_MARL_DEFAULTS, notes="agents stacked on axis 0, one shared policy"))

# --- paper16: the paper's 16 single-agent tasks (arXiv 2511.16652, §6.2 / App. N.4) -------------
# Five come from core16 above; the other eleven need the optional libraries of the `paper` extra
# (`pip install -e ".[paper]"`), imported only when a task is built. GPU budgets are this
# project's choice at the order of magnitude of each library's own baselines (the paper does not
# list them per task); quick budgets are CPU smoke-and-learn runs.
ALSO_IN.append(("paper16", ["CartPole-v1", "Pendulum-v1", "ant", "humanoid", "inverted_double_pendulum"]))


def _paper_extra(module: str, package: str) -> tuple[tuple[str, str, str], ...]:
    return ((module, package, "paper"),)


for name, rnd in [
    ("Craftax-Classic-Symbolic-v1", 1.444),
    ("Craftax-Symbolic-v1", 1.354),
]:
    TASKS.append(Task(name, "paper16", "craftax", partial(CraftaxEnv, name), 100 * M, 500_000, rnd,
                  requires=_paper_extra("craftax", "craftax"),
                  notes="symbolic observations; auto-reset to a new world (PPO: reset_pool=1 trains 2-3x faster); "
                        "time limit = truncation"))

# Game2048: a merge scores the merged tile's value, so returns run into the thousands; PPO's
# clipped value loss lets the value move only clip_eps per epoch and never catches up.
_JUMANJI_DEFAULTS = {"Game2048-v1": {"ppo": {"clip_vloss": False}}}
for name, rnd in [
    ("Game2048-v1", 1104.328),
    ("Knapsack-v1", 13.805),
    ("Snake-v1", 6.211),
]:
    TASKS.append(Task(name, "paper16", "jumanji", partial(JumanjiEnv, name), 50 * M, 500_000, rnd,
                  defaults=_JUMANJI_DEFAULTS.get(name, {}), requires=_paper_extra("jumanji", "jumanji"),
                  notes="observation fields flattened; action mask appended and respected"))

for name, rnd in [
    ("l/hard_pinball", -1.039),
    ("m/h17_thrustcontrol_left", 0.077),
    ("s/h1_thrust_over_ball", -0.811),
]:
    TASKS.append(Task(name, "paper16", "kinetix", partial(KinetixEnv, name), 50 * M, 500_000, rnd,
                  defaults={"*": {"normalize_obs": True}}, requires=_paper_extra("kinetix", "kinetix-env"),
                  notes="one level, symbolic_flat observations, continuous actions"))

for name, rnd in [
    ("Navix-DoorKey-8x8-v0", 0.004),
    ("Navix-Dynamic-Obstacles-6x6-Random-v0", 0.047),
    ("Navix-FourRooms-v0", 0.031),
]:
    TASKS.append(Task(name, "paper16", "navix", partial(NavixEnv, name), 20 * M, 500_000, rnd,
                  requires=_paper_extra("navix", "navix"), notes="symbolic full grid, flattened"))
