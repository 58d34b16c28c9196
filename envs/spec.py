"""What a task promises: observation shape, action space, agents, episode limit."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Discrete:
    """`n` actions, encoded as int32 indices 0..n-1."""

    n: int

    def describe(self) -> str:
        return f"Discrete({self.n})"


@dataclass(frozen=True)
class Box:
    """Continuous actions of `shape`, clipped to [low, high] by the adapter."""

    shape: tuple[int, ...]
    low: float
    high: float

    def describe(self) -> str:
        return f"Box({self.low:g}, {self.high:g}, shape={self.shape})"


ActionSpace = Union[Discrete, Box]


@dataclass(frozen=True)
class EnvSpec:
    """Static description of a wrapped task.

    Single-agent tasks have observations of `obs_shape` and scalar rewards. Multi-agent tasks
    (num_agents > 1) stack agents on a leading axis: observations `(num_agents, *obs_shape)`,
    actions `(num_agents, ...)`, rewards `(num_agents,)`, so one shared policy applies to every
    agent by broadcasting over that axis.
    """

    name: str
    obs_shape: tuple[int, ...]
    action_space: ActionSpace
    max_steps: int
    num_agents: int = 1
    agent_names: tuple[str, ...] = ()
    # Multi-agent tasks whose agents have fewer actions than the padded action space: per agent,
    # how many of the padded actions are valid (the policy masks the rest). Empty when uniform.
    valid_actions: tuple[int, ...] = ()
    # Single-agent discrete tasks whose valid actions change with the state (Jumanji): the last
    # `action_space.n` entries of every observation are 1.0 for a valid action, 0.0 otherwise. The
    # policy masks the rest, and observation normalisation leaves these entries as they are.
    action_mask: bool = False

    def __post_init__(self):
        if self.action_mask and (self.multi_agent or not self.discrete or len(self.obs_shape) != 1):
            raise ValueError(f"{self.name}: action_mask needs a single-agent discrete task with flat observations")

    @property
    def mask_size(self) -> int:
        """How many trailing observation entries are the valid-action mask (0: the task has none)."""
        return self.action_space.n if self.action_mask else 0

    @property
    def multi_agent(self) -> bool:
        return self.num_agents > 1

    @property
    def discrete(self) -> bool:
        return isinstance(self.action_space, Discrete)

    @property
    def action_shape(self) -> tuple[int, ...]:
        """Shape of one agent's action: () for discrete, the Box shape for continuous."""
        return () if self.discrete else tuple(self.action_space.shape)

    @property
    def batch_prefix(self) -> tuple[int, ...]:
        """Leading axes every observation, action and reward carries: (num_agents,) or ()."""
        return (self.num_agents,) if self.multi_agent else ()
