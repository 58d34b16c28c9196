"""Every hyperparameter: its default, where the default came from, and its rule.

One frozen dataclass per algorithm. Each field is declared with `hyperparameter(...)`, whose
metadata (a `Rule`) says what values are allowed (a range, or a set of choices) and whether the
value is **static** (it changes array shapes or the program's structure: a new compile) or
**traced** (a number the compiled program could take as data). Validation, the sweep file's type
checks and the "did you mean" hints are all derived from these rules; nothing restates them.
Rules that tie several fields together live in the config class's `check` method.

`resolve(algo, task_defaults, overrides)` layers, in order: the dataclass defaults < the task's
registry overrides (`Task.defaults`) < the user's overrides (`--set key=value` or a sweep grid), and
validates the result before anything compiles. Which config class an algorithm uses comes from
the algorithm registry (`eggroll_bench.algos.registry`).

Sources of the defaults:
- Network: 2 hidden layers of 64, tanh, PureJaxRL's classic-control actor-critic. The paper's RL
  preset is `--set hidden=256 depth=3 activation=pqn`.
- ES (EGGROLL and OpenES share it, so the only difference is the noise): population 64,
  antithetic, centred-rank fitness shaping, Adam lr 0.05 on the 1/(Nσ)-scaled gradient, σ 0.05
  — the OpenES settings of Salimans et al. (2017) / evosax's defaults, sized for CPU; EGGROLL
  rank 1 (the paper's RL default). Deterministic (greedy / mean) actions, the paper's choice.
- PPO: PureJaxRL's CartPole configuration (4 envs x 128 steps per env in their script, here 16
  envs for a CPU-friendly batch), lr 2.5e-4 annealed, 4 epochs x 4 minibatches, γ 0.99, λ 0.95,
  clip 0.2 (the value loss clipped too), entropy 0.01, vf 0.5, grad-norm 0.5.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, fields
from typing import Any, Mapping

ACTIVATIONS = ("tanh", "relu", "gelu", "silu", "pqn")
OPTIMIZERS = ("adam", "adamw", "sgd")
# A Gaussian policy's std: "param", one learned log-std per action dimension whatever the state
# (PureJaxRL, brax); "state", output by the policy network beside the mean (evosax's Gaussian head,
# which gymnax-blines' ES runs use).
LOG_STDS = ("param", "state")
FITNESS_SHAPINGS = ("centered_rank", "zscore", "none")
STATIC, TRACED = "static", "traced"


class ConfigError(ValueError):
    """A hyperparameter is unknown, of the wrong type, or out of its allowed range."""


@dataclass(frozen=True)
class Rule:
    """What one hyperparameter may be. Bounds apply to numbers, `choices` to strings."""

    kind: str  # STATIC: changes shapes / program structure; TRACED: could be data to a compiled program
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is excluded
    choices: tuple[str, ...] | None = None

    def describe(self) -> str:
        """The allowed values, as an error message says them."""
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        if self.low is not None and self.high is not None:
            return f"in {'(' if self.low_open else '['}{_num(self.low)}, {_num(self.high)}]"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        return "any value of its type"

    def check(self, name: str, value: Any) -> None:
        if self.choices is not None:
            if value not in self.choices:
                raise ConfigError(f"{name}: {value!r} is not one of {', '.join(self.choices)}")
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and value > self.high
        if below or above:
            raise ConfigError(f"{name} must be {self.describe()}, got {value!r}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def hyperparameter(default: Any, kind: str = STATIC, *, low: float | None = None, high: float | None = None,
                   low_open: bool = False, choices: tuple[str, ...] | None = None) -> Any:
    """A config field whose `Rule` travels with it (`rule_of`)."""
    if kind not in (STATIC, TRACED):
        raise ValueError(f"kind must be {STATIC!r} or {TRACED!r}, got {kind!r}")
    return dataclasses.field(default=default, metadata={"rule": Rule(kind, low, high, low_open, choices)})


def positive(default: Any, kind: str = STATIC) -> Any:
    return hyperparameter(default, kind, low=0, low_open=True)


def at_least(bound: float, default: Any, kind: str = STATIC) -> Any:
    return hyperparameter(default, kind, low=bound)


def unit_interval(default: float) -> Any:
    """(0, 1]: discounts, GAE's λ and per-update decay factors."""
    return hyperparameter(default, TRACED, low=0, high=1, low_open=True)


def choice(default: str, choices: tuple[str, ...]) -> Any:
    return hyperparameter(default, STATIC, choices=choices)


def flag(default: bool) -> Any:
    return hyperparameter(default, STATIC)


@dataclass(frozen=True)
class BaseConfig:
    """What every algorithm shares: the network, observation handling and the evaluation protocol."""

    hidden: int = at_least(1, 64)
    depth: int = at_least(1, 2)
    activation: str = choice("tanh", ACTIVATIONS)
    log_std: str = choice("param", LOG_STDS)  # continuous actions only
    normalize_obs: bool = flag(False)  # running mean/std normalisation (on by default for brax tasks)
    agent_id: bool = flag(False)  # multi-agent: append a one-hot agent id to each agent's observation
    eval_every: int = at_least(1, 10)  # updates (ES generations / PPO updates) between evaluations
    eval_episodes: int = at_least(1, 16)
    eval_deterministic: bool = flag(True)  # greedy / mean action when evaluating

    def check(self) -> None:
        """Refuse combinations of values that each field's rule alone cannot see."""


@dataclass(frozen=True)
class ESConfig(BaseConfig):
    """OpenES; EGGROLL adds `rank` (`EggrollConfig`)."""

    pop_size: int = at_least(2, 64)
    episodes_per_member: int = at_least(1, 1)
    sigma: float = positive(0.05, TRACED)
    sigma_decay: float = unit_interval(1.0)  # σ_t = σ · sigma_decay^t, floored at sigma_min
    sigma_min: float = at_least(0, 0.0, TRACED)
    lr: float = positive(0.05, TRACED)
    lr_decay: float = unit_interval(1.0)  # lr_t = lr · lr_decay^t
    optimizer: str = choice("adam", OPTIMIZERS)
    weight_decay: float = at_least(0, 0.0, TRACED)  # adamw only
    antithetic: bool = flag(True)
    fitness_shaping: str = choice("centered_rank", FITNESS_SHAPINGS)
    deterministic_policy: bool = flag(True)  # act greedily / with the mean while collecting fitness
    common_starts: bool = flag(True)  # every member plays the same start states in a generation (CRN)

    def check(self) -> None:
        if self.antithetic and self.pop_size % 2:
            raise ConfigError(f"pop_size must be even with antithetic=true (pairs ±ε), got {self.pop_size}; "
                              "use an even pop_size or antithetic=false")
        if self.weight_decay and self.optimizer != "adamw":
            raise ConfigError(f"weight_decay={self.weight_decay} needs optimizer='adamw' (got {self.optimizer!r})")


@dataclass(frozen=True)
class EggrollConfig(ESConfig):
    rank: int = at_least(1, 1)  # rank r of each matrix perturbation A Bᵀ/√r


@dataclass(frozen=True)
class PPOConfig(BaseConfig):
    num_envs: int = at_least(1, 16)
    num_steps: int = at_least(1, 128)
    update_epochs: int = at_least(1, 4)
    num_minibatches: int = at_least(1, 4)
    lr: float = positive(2.5e-4, TRACED)
    anneal_lr: bool = flag(True)
    gamma: float = unit_interval(0.99)
    gae_lambda: float = unit_interval(0.95)
    clip_eps: float = at_least(0, 0.2, TRACED)
    # PureJaxRL, gymnax-blines and JaxMARL all clip the value loss. Unclipped, PPO on CartPole-v1
    # (16 x 128, 2M steps) reached 500 and then fell to 250-470 on 3 of 5 seeds as lr annealed;
    # clipped, all 5 held 500 (docs/validate.md).
    clip_vloss: bool = flag(True)
    ent_coef: float = at_least(0, 0.01, TRACED)
    vf_coef: float = at_least(0, 0.5, TRACED)
    max_grad_norm: float = positive(0.5, TRACED)
    # fresh starts drawn per collection step and handed to the environments that ended
    # (`envs.core.step_batch`); 0 = every environment resets itself, exactly
    reset_pool: int = at_least(0, 0)

    def check(self) -> None:
        batch = self.num_envs * self.num_steps
        if batch % self.num_minibatches:
            raise ConfigError(f"num_minibatches={self.num_minibatches} must divide num_envs*num_steps={batch}")
        if self.reset_pool > self.num_envs:
            raise ConfigError(f"reset_pool={self.reset_pool} exceeds num_envs={self.num_envs}; allowed: 0 (exact "
                              f"auto-reset) or 1..{self.num_envs} fresh starts per step")


def rule_of(cls: type[BaseConfig], name: str) -> Rule:
    return next(f.metadata["rule"] for f in fields(cls) if f.name == name)


def rules(cls: type[BaseConfig]) -> dict[str, Rule]:
    """Field name -> its rule, in declaration order."""
    return {f.name: f.metadata["rule"] for f in fields(cls)}


def defaults(cls: type[BaseConfig]) -> dict[str, Any]:
    instance = cls()
    return {f.name: getattr(instance, f.name) for f in fields(cls)}


def static_part(config: BaseConfig) -> dict[str, Any]:
    """The static fields' values: configurations equal on these share one compiled program."""
    return {name: getattr(config, name) for name, rule in rules(type(config)).items() if rule.kind == STATIC}


def type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string"}.get(type(value), type(value).__name__)


def check_type(name: str, value: Any, default: Any) -> str | None:
    """None if `value` has the type of `default` (an int is a float; a bool is not a number), else why not."""
    kind = type(default)
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    return None if ok else f"{name} = {value!r}: expected {type_name(default)}, got {type_name(value)}"


def unknown_name(what: str, name: str, allowed: list[str] | tuple[str, ...]) -> str:
    """'unknown <what> <name>. Did you mean ...? Allowed: ...' — the one wording of every such error."""
    close = difflib.get_close_matches(name, list(allowed), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {what} {name!r}.{hint} Allowed: {', '.join(allowed)}"


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
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{name}: expected a boolean (true/false), got {value!r}")
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if check_type(name, value, default) is not None:
        raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r} ({type(value).__name__})")
    return kind(value) if kind is float else value


def build(cls: type[BaseConfig], overrides: Mapping[str, Any] | None = None, *, algo: str = "") -> BaseConfig:
    """A validated `cls` with `overrides` applied (no task defaults); `algo` names it in errors."""
    allowed = defaults(cls)
    values = {}
    for name, value in (overrides or {}).items():
        if name not in allowed:
            raise ConfigError(unknown_name(f"{algo or cls.__name__} hyperparameter", name, sorted(allowed)))
        values[name] = _coerce(name, value, allowed[name])
    config = dataclasses.replace(cls(), **values)
    validate(config)
    return config


def validate(config: BaseConfig) -> None:
    for name, rule in rules(type(config)).items():
        rule.check(name, getattr(config, name))
    config.check()


def layered(allowed: set[str] | list[str], algo: str, task_defaults: Mapping[str, Mapping[str, Any]] | None,
            overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Task defaults (`"*"`, then the algorithm's own) < user overrides. A `"*"` default the
    algorithm has no field for is dropped; one under the algorithm's own name is kept (and refused)."""
    task_defaults = task_defaults or {}
    merged = {k: v for k, v in task_defaults.get("*", {}).items() if k in allowed}
    merged.update(task_defaults.get(algo, {}))
    merged.update(overrides or {})
    return merged


def as_dict(config: BaseConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)
