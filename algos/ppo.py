"""PPO (PureJaxRL quality) and, for multi-agent tasks, IPPO with one shared actor-critic.

One `update` = collect `num_steps` steps from `num_envs` environments, compute GAE, then
`update_epochs` passes of `num_minibatches` minibatches of the clipped-surrogate loss.
Environments auto-reset when an episode ends; `reset_pool=K` shares K fresh starts per step among
the environments that ended instead (`envs.core.step_batch`), for tasks whose reset costs many steps.

Truncation is bootstrapped, not treated as termination: every transition stores V(s') of the
observation *before* any reset (`info["final_obs"]`), so
    δ_t = r_t + γ (1 − terminated_t) V(s'_t) − V(s_t),   A_t = δ_t + γλ (1 − done_t) A_{t+1}.
Multi-agent: agents ride along as an extra batch axis (IPPO with parameter sharing); the team
`done` is broadcast over agents, each agent gets its own reward and value.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct

from eggroll_bench.algos import sharding
from eggroll_bench.algos.config import ConfigError, PPOConfig
from eggroll_bench.algos.network import ActorCritic, PolicyHead, input_dim
from eggroll_bench.algos.observations import Moments, ObsNorm, preprocess
from eggroll_bench.algos.rollout import ActFn
from eggroll_bench.envs.core import Env, step_batch


class PPOState(struct.PyTreeNode):
    params: Any
    opt_state: Any
    obs_norm: ObsNorm
    env_state: Any
    obs: jax.Array


class Transition(struct.PyTreeNode):
    obs: jax.Array  # preprocessed, as the network saw it
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array
    terminated: jax.Array
    next_value: jax.Array  # V(s') before any reset


class PPO:
    def __init__(self, env: Env, config: PPOConfig, total_steps: int):
        self.env, self.spec, self.config = env, env.spec, config
        self.head = PolicyHead(self.spec, config.log_std)
        self.net = ActorCritic(self.head.action_dim, self.spec.discrete, config.hidden, config.depth, config.activation,
                               self.spec.mask_size, config.log_std)
        self.steps_per_update = config.num_envs * config.num_steps
        self.num_updates = max(1, -(-total_steps // self.steps_per_update))
        grad_steps = self.num_updates * config.update_epochs * config.num_minibatches
        lr = optax.linear_schedule(config.lr, 0.0, grad_steps) if config.anneal_lr else config.lr
        self.tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))

    @property
    def min_steps_per_update(self) -> int:
        return self.steps_per_update

    def check(self) -> None:
        """A reset pool needs a task whose episodes start from `reset` (see `envs.core.step_batch`)."""
        if self.config.reset_pool and getattr(getattr(self.env, "raw", None), "auto_reset", None):
            raise ConfigError(f"reset_pool={self.config.reset_pool}: {self.spec.name} restarts an ended episode "
                              f"from its own first state (auto_reset), which a pool of fresh starts cannot stand "
                              f"in for; allowed: 0")

    @property
    def parallel_axis(self) -> tuple[str, int, int]:
        """What a trial on several devices splits: the environments."""
        return "num_envs", self.config.num_envs, 1

    def _observe(self, norm: ObsNorm, obs: jax.Array) -> jax.Array:
        return preprocess(self.spec, norm, obs, self.config.normalize_obs, self.config.agent_id)

    def init(self, key: jax.Array) -> PPOState:
        init_key, env_key = jax.random.split(key)
        dummy = jnp.zeros(self.spec.batch_prefix + (input_dim(self.spec, self.config.agent_id),))
        params = self.net.init(init_key, dummy)["params"]
        reset = jax.vmap(self.env.reset)(jax.random.split(env_key, self.config.num_envs))
        obs, env_state = sharding.split_tree(reset)  # environments over devices
        return PPOState(params, self.tx.init(params), ObsNorm.create(self.spec.obs_shape), env_state, obs)

    def _broadcast(self, x: jax.Array, like: jax.Array) -> jax.Array:
        return jnp.broadcast_to(x.reshape(x.shape + (1,) * (like.ndim - x.ndim)), like.shape)

    def _collect(self, state: PPOState, key: jax.Array):
        c, norm = self.config, state.obs_norm
        step = partial(step_batch, self.env, reset_pool=c.reset_pool)

        def one_step(carry, key):
            env_state, obs = carry
            act_key, step_key = jax.random.split(key)
            x = self._observe(norm, obs)
            out, value = self.net.apply({"params": state.params}, x)
            action = self.head.sample(out, act_key, deterministic=False)
            log_prob = self.head.log_prob(out, action)
            next_obs, env_state, reward, done, info = step(jax.random.split(step_key, c.num_envs), env_state, action)
            _, next_value = self.net.apply({"params": state.params}, self._observe(norm, info["final_obs"]))
            t = Transition(x, action, log_prob, value, reward, self._broadcast(done, reward),
                           self._broadcast(info["terminated"], reward), next_value)
            return (env_state, next_obs), (t, obs)

        carry = sharding.split_tree((state.env_state, state.obs))  # environments over devices
        (env_state, obs), (traj, raw_obs) = jax.lax.scan(one_step, carry,
                                                         jax.random.split(key, c.num_steps))
        return env_state, obs, traj, raw_obs

    def _gae(self, traj: Transition) -> tuple[jax.Array, jax.Array]:
        c = self.config

        def backward(adv_next, t: Transition):
            delta = t.reward + c.gamma * (1.0 - t.terminated) * t.next_value - t.value
            adv = delta + c.gamma * c.gae_lambda * (1.0 - t.done) * adv_next
            return adv, adv

        _, advantages = jax.lax.scan(backward, jnp.zeros_like(traj.value[0]), traj, reverse=True)
        return advantages, advantages + traj.value

    def _loss(self, params, batch: Transition, advantages, targets):
        c = self.config
        out, value = self.net.apply({"params": params}, batch.obs)
        log_prob = self.head.log_prob(out, batch.action)
        ratio = jnp.exp(log_prob - batch.log_prob)
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        actor_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - c.clip_eps, 1 + c.clip_eps) * adv).mean()
        if c.clip_vloss:
            clipped = batch.value + jnp.clip(value - batch.value, -c.clip_eps, c.clip_eps)
            value_loss = 0.5 * jnp.maximum((value - targets) ** 2, (clipped - targets) ** 2).mean()
        else:
            value_loss = 0.5 * ((value - targets) ** 2).mean()
        entropy = self.head.entropy(out).mean()
        total = actor_loss + c.vf_coef * value_loss - c.ent_coef * entropy
        return total, {"actor_loss": actor_loss, "value_loss": value_loss, "entropy": entropy}

    def update(self, state: PPOState, key: jax.Array) -> tuple[PPOState, dict]:
        c = self.config
        collect_key, shuffle_key = jax.random.split(key)
        env_state, obs, traj, raw_obs = self._collect(state, collect_key)
        advantages, targets = self._gae(traj)
        # Minibatches over (step, env) rows; agents of a row stay together (masks are per agent).
        rows = c.num_steps * c.num_envs
        flat = jax.tree.map(lambda x: x.reshape((rows,) + x.shape[2:]), (traj, advantages, targets))

        def epoch(carry, key):
            params, opt_state = carry
            perm = jax.random.permutation(key, rows).reshape(c.num_minibatches, -1)

            def minibatch(carry, idx):
                params, opt_state = carry
                batch, adv, tgt = jax.tree.map(lambda x: x[idx], flat)
                grads, info = jax.grad(self._loss, has_aux=True)(params, batch, adv, tgt)
                updates, opt_state = self.tx.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), info

            return jax.lax.scan(minibatch, (params, opt_state), perm)

        (params, opt_state), info = jax.lax.scan(epoch, (state.params, state.opt_state),
                                                 jax.random.split(shuffle_key, c.update_epochs))
        moments = Moments.zeros(self.spec.obs_shape).add(raw_obs, jnp.ones(raw_obs.shape[:2]))
        new_state = PPOState(params, opt_state, state.obs_norm.merge(moments), env_state, obs)
        metrics = {"env_steps": jnp.asarray(self.steps_per_update), **jax.tree.map(jnp.mean, info)}
        return new_state, metrics

    def eval_act(self, state: PPOState) -> ActFn:
        def act(obs, key):
            out, _ = self.net.apply({"params": state.params}, self._observe(state.obs_norm, obs))
            return self.head.sample(out, key, self.config.eval_deterministic)

        return act

    def policy_params(self, state: PPOState) -> Any:
        return state.params


def make_ppo(env: Env, config: PPOConfig, total_steps: int) -> PPO:
    return PPO(env, config, total_steps)
