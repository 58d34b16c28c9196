"""Every hyperparameter, its default, where the default came from, and its validation.

One frozen dataclass per algorithm. `resolve(algo, task, overrides)` layers, in order:
the dataclass defaults < the task's registry overrides (`Task.defaults`) < the user's overrides
(`--set key=value` or a sweep grid), and validates the result before anything compiles.

Sources of the defaults:
- Network: 2 hidden layers of 64, tanh, PureJaxRL's classic-control actor-critic. The paper's RL
  preset is `--set hidden=256 depth=3 activation=pqn`.
- ES (EGGROLL and OpenES share it, so the only difference is the noise): population 64,
  antithetic, centred-rank fitness shaping, Adam lr 0.05 on the 1/(Nσ)-scaled gradient, σ 0.05
  — the OpenES settings of Salimans et al. (2017) / evosax's defaults, sized for CPU; EGGROLL
  rank 1 (the paper's RL default). Deterministic (greedy / mean) actions, the paper's choice.
- PPO: PureJaxRL's CartPole configuration (4 envs x 128 steps per env in their script, here 16
  envs for a CPU-friendly batch), lr 2.5e-4 annealed, 4 epochs x 4 minibatches, γ 0.99, λ 0.95,
  clip 0.2, entropy 0.01, vf 0.5, grad-norm 0.5.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

ACTIVATIONS = ("tanh", "relu", "gelu", "silu", "pqn")
ALGOS = ("eggroll", "openes", "ppo")


class ConfigError(ValueError):
    """A hyperparameter is unknown, of the wrong type, or out of its allowed range."""


@dataclass(frozen=True)
class Common:
    # network (shared by every algorithm)
    hidden: int = 64
    depth: int = 2
    activation: str = "tanh"
    # observations
    normalize_obs: bool = False  # running mean/std normalisation (on by default for brax tasks)
    agent_id: bool = False  # multi-agent: append a one-hot agent id to each agent's observation
    # evaluation (same protocol for every algorithm)
    eval_every: int = 10  # updates (ES generations / PPO updates) between evaluations
    eval_episodes: int = 16
    eval_deterministic: bool = True  # greedy / mean action when evaluating


@dataclass(frozen=True)
class ESConfig(Common):
    pop_size: int = 64
    episodes_per_member: int = 1
    sigma: float = 0.05
    sigma_decay: float = 1.0  # σ_t = σ · sigma_decay^t, floored at sigma_min
    sigma_min: float = 0.0
    lr: float = 0.05
    lr_decay: float = 1.0  # lr_t = lr · lr_decay^t
    optimizer: str = "adam"  # adam | adamw | sgd
    weight_decay: float = 0.0  # adamw only
    antithetic: bool = True
    fitness_shaping: str = "centered_rank"  # centered_rank | zscore | none
    deterministic_policy: bool = True  # act greedily / with the mean while collecting fitness
    common_starts: bool = True  # every member plays the same start states in a generation (CRN)
    rank: int = 1  # EGGROLL only: rank r of each matrix perturbation


@dataclass(frozen=True)
class PPOConfig(Common):
    num_envs: int = 16
    num_steps: int = 128
    update_epochs: int = 4
    num_minibatches: int = 4
    lr: float = 2.5e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    clip_vloss: bool = False
    ent_coef: float = 0.01
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5


CONFIG_CLASSES: dict[str, type[Common]] = {"eggroll": ESConfig, "openes": ESConfig, "ppo": PPOConfig}

_CHOICES = {
    "activation": ACTIVATIONS,
    "optimizer": ("adam", "adamw", "sgd"),
    "fitness_shaping": ("centered_rank", "zscore", "none"),
}
_POSITIVE = ("hidden", "depth", "eval_every", "eval_episodes", "episodes_per_member", "num_envs",
             "num_steps", "update_epochs", "num_minibatches", "lr", "sigma", "max_grad_norm")
_UNIT_INTERVAL = ("gamma", "gae_lambda")  # (0, 1]
_DECAYS = ("sigma_decay", "lr_decay")  # (0, 1]
_NON_NEGATIVE = ("weight_decay", "ent_coef", "vf_coef", "clip_eps", "sigma_min")


def field_names(algo: str) -> list[str]:
    return [f.name for f in fields(config_class(algo))]


def config_class(algo: str) -> type[Common]:
    if algo not in CONFIG_CLASSES:
        close = difflib.get_close_matches(algo, ALGOS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown algo {algo!r}.{hint} Allowed: {', '.join(ALGOS)}")
    return CONFIG_CLASSES[algo]


def _coerce(name: str, value: Any, default: Any) -> Any:
    """Convert `value` (possibly a string from the command line) to the type of `default`."""
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            if text.lower() in ("true", "1", "yes", "on"):
                return True
            if text.lower() in ("false", "0", "no", "off"):
                return False
            raise ConfigError(f"{name}: expected a boolean (true/false), got {value!r}")
        try:
            return kind(float(text)) if kind is int and float(text).is_integer() else kind(text)
        except ValueError:
            raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}") from None
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected a boolean (true/false), got {value!r}")
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r} ({type(value).__name__})")


def build(algo: str, overrides: Mapping[str, Any] | None = None) -> Common:
    """A validated config of `algo` with `overrides` applied (no task defaults)."""
    cls = config_class(algo)
    defaults = cls()
    allowed = {f.name: getattr(defaults, f.name) for f in fields(cls)}
    values = {}
    for name, value in (overrides or {}).items():
        if name not in allowed:
            close = difflib.get_close_matches(name, list(allowed), n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(f"unknown {algo} hyperparameter {name!r}.{hint} "
                              f"Allowed: {', '.join(sorted(allowed))}")
        values[name] = _coerce(name, value, allowed[name])
    config = dataclasses.replace(defaults, **values)
    validate(algo, config)
    return config


def validate(algo: str, c: Common) -> None:
    for name, choices in _CHOICES.items():
        if hasattr(c, name) and getattr(c, name) not in choices:
            raise ConfigError(f"{name}: {getattr(c, name)!r} is not one of {', '.join(choices)}")
    for name in _POSITIVE:
        if hasattr(c, name) and not getattr(c, name) > 0:
            raise ConfigError(f"{name} must be > 0, got {getattr(c, name)!r}")
    for name in _UNIT_INTERVAL + _DECAYS:
        if hasattr(c, name) and not 0 < getattr(c, name) <= 1:
            raise ConfigError(f"{name} must be in (0, 1], got {getattr(c, name)!r}")
    for name in _NON_NEGATIVE:
        if hasattr(c, name) and getattr(c, name) < 0:
            raise ConfigError(f"{name} must be >= 0, got {getattr(c, name)!r}")
    if isinstance(c, ESConfig):
        if c.pop_size < 2:
            raise ConfigError(f"pop_size must be >= 2, got {c.pop_size}")
        if c.antithetic and c.pop_size % 2:
            raise ConfigError(f"pop_size must be even with antithetic=true (pairs ±ε), got {c.pop_size}; "
                              "use an even pop_size or antithetic=false")
        if c.rank < 1:
            raise ConfigError(f"rank must be >= 1, got {c.rank}")
        if c.weight_decay and c.optimizer != "adamw":
            raise ConfigError(f"weight_decay={c.weight_decay} needs optimizer='adamw' (got {c.optimizer!r})")
    if isinstance(c, PPOConfig):
        batch = c.num_envs * c.num_steps
        if batch % c.num_minibatches:
            raise ConfigError(f"num_minibatches={c.num_minibatches} must divide num_envs*num_steps={batch}")


def resolve(algo: str, task_defaults: Mapping[str, Mapping[str, Any]] | None,
            overrides: Mapping[str, Any] | None = None) -> Common:
    """Dataclass defaults < task defaults (`"*"` then per-algo) < user overrides, validated."""
    task_defaults = task_defaults or {}
    merged: dict[str, Any] = {}
    allowed = set(field_names(algo))
    for scope in ("*", algo):
        merged.update({k: v for k, v in task_defaults.get(scope, {}).items() if k in allowed or scope == algo})
    merged.update(overrides or {})
    return build(algo, merged)


def as_dict(config: Common) -> dict[str, Any]:
    return dataclasses.asdict(config)
