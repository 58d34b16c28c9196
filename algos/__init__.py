"""The algorithms (EGGROLL, OpenES, PPO), their shared network and configs, and the one runner.

Importing this package does not import JAX: the config classes and the registry are plain Python,
so a sweep's parent process can validate configurations without starting JAX.
"""
from eggroll_bench.algos.config import (STATIC, TRACED, BaseConfig, ConfigError, EggrollConfig, ESConfig,
                                        PPOConfig, hyperparameter)
from eggroll_bench.algos.registry import algorithm_names, get_algorithm, register_algorithm

__all__ = ["STATIC", "TRACED", "BaseConfig", "ConfigError", "ESConfig", "EggrollConfig", "PPOConfig",
           "algorithm_names", "get_algorithm", "hyperparameter", "register_algorithm"]
