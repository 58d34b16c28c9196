"""The one registry of algorithms: name -> (config class, factory, label, colour).

The runner builds an algorithm through it, the sweep-file parser and the CLI take their choices
and hyperparameter names from it, and the figures their order, labels and colours. Adding an
algorithm is one module that calls `register_algorithm` (see docs/extending.md, "Adding an algorithm").

This module does not import JAX: a built-in factory is named as "module:function" and imported
the first time an algorithm is built, so parsing a sweep file or counting its trials stays cheap.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping

from eggroll_bench import plugins
from eggroll_bench.algos.config import (BaseConfig, ConfigError, EggrollConfig, ESConfig, PPOConfig, build,
                                        defaults, layered, unknown_name)

if TYPE_CHECKING:
    from eggroll_bench.algos.base import Algorithm
    from eggroll_bench.envs.core import Env

Factory = Callable[["Env", BaseConfig, int], "Algorithm"]  # (env, config, env-step budget) -> algorithm
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class AlgorithmEntry:
    name: str
    config_class: type[BaseConfig]
    factory: Factory | str  # a callable, or "module:function" imported on first use
    label: str  # how figures and tables name it
    color: str | None  # a matplotlib colour; None: the figures pick one

    def make(self, env: "Env", config: BaseConfig, total_steps: int) -> "Algorithm":
        factory = self.factory
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module), attr)
        return factory(env, config, total_steps)


_REGISTRY: dict[str, AlgorithmEntry] = {}


def register_algorithm(name: str, config_class: type[BaseConfig], factory: Factory | str, *,
                       label: str | None = None, color: str | None = None) -> AlgorithmEntry:
    """Make `name` trainable by `train`, sweeps and plots. `factory(env, config, total_steps)`
    returns an object following `eggroll_bench.algos.base.Algorithm`."""
    if not _NAME.match(name):
        raise ValueError(f"algorithm name {name!r}: use lower-case letters, digits and '_', starting with a letter")
    if not (isinstance(config_class, type) and issubclass(config_class, BaseConfig)):
        raise TypeError(f"{name}: config_class must be a subclass of eggroll_bench.algos.config.BaseConfig")
    entry = AlgorithmEntry(name, config_class, factory, label or name, color)
    old = _REGISTRY.get(name)
    if old is not None and old != entry:
        raise ValueError(f"algorithm {name!r} is already registered (by {old.factory!r})")
    _REGISTRY[name] = entry
    return entry


def algorithm_names() -> tuple[str, ...]:
    """Every registered algorithm, built-ins first, then plugins in the order they registered."""
    plugins.load_entry_points()
    return tuple(_REGISTRY)


def get_algorithm(name: str) -> AlgorithmEntry:
    if name not in _REGISTRY:
        plugins.load_entry_points()
    if name not in _REGISTRY:
        raise ConfigError(unknown_name("algo", name, list(_REGISTRY)))
    return _REGISTRY[name]


def config_class(algo: str) -> type[BaseConfig]:
    return get_algorithm(algo).config_class


def field_names(algo: str) -> list[str]:
    return list(defaults(config_class(algo)))


def build_config(algo: str, overrides: Mapping[str, Any] | None = None) -> BaseConfig:
    """A validated config of `algo` with `overrides` applied (no task defaults)."""
    return build(config_class(algo), overrides, algo=algo)


def resolve(algo: str, task_defaults: Mapping[str, Mapping[str, Any]] | None,
            overrides: Mapping[str, Any] | None = None) -> BaseConfig:
    """Dataclass defaults < task defaults (`"*"` then per-algo) < user overrides, validated."""
    return build_config(algo, layered(set(field_names(algo)), algo, task_defaults, overrides))


# The built-ins. EGGROLL and OpenES are one evolution strategy with two noise models.
register_algorithm("eggroll", EggrollConfig, "eggroll_bench.algos.es:make_eggroll", label="EGGROLL", color="#0173B2")
register_algorithm("openes", ESConfig, "eggroll_bench.algos.es:make_openes", label="OpenES", color="#DE8F05")
register_algorithm("ppo", PPOConfig, "eggroll_bench.algos.ppo:make_ppo", label="PPO", color="#029E73")
