"""Record one episode's environment states and draw it with the environment library's own renderer.

    kind = renderer(env)                       # "gif", "html", or None (nothing can draw this task)
    episode = record_episode(env, act, key)    # the library states of one episode, frame by frame
    render(env, episode, "cartpole.gif")       # gymnax's Visualizer / jaxmarl MPE / brax.io.html

Renderers: gymnax's `gymnax.visualize.Visualizer` for the tasks it draws (classic control,
MinAtar, Catch, ...) and jaxmarl's MPE rendering (`init_render` / `update_render`, as its
`viz.visualizer.Visualizer` uses them) as GIFs; brax's `brax.io.html.render` as one HTML page.
The states come from inside our wrapper: `EnvState.inner` is the adapter's state, which is the
library's own state (brax: a pair of the current and the episode's first `State`).
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from eggroll_bench.envs.core import Env

ActFn = Callable[[jax.Array, jax.Array], jax.Array]  # act(obs_batch, key) -> action_batch

# The task names gymnax's Visualizer draws (gymnax/visualize/visualizer.py); it draws nothing for others.
GYMNAX_DRAWN = ("Acrobot-v1", "CartPole-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0",
                "Catch-bsuite", "Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar",
                "SpaceInvaders-MinAtar", "Pong-misc", "PointRobot-misc", "MetaMaze-misc", "FourRooms-misc")
# ... of which these go through gymnasium's pygame renderer (pygame is a base dependency)
GYMNAX_VIA_PYGAME = ("Acrobot-v1", "CartPole-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0")


class NoRenderer(ValueError):
    """No library renderer can draw this task (the message says why)."""


@dataclass(frozen=True)
class Episode:
    states: list[Any]  # the library's state at each frame, unbatched, on the host
    rewards: np.ndarray  # team reward after each frame's action
    episode_return: float
    length: int


def renderer(env: Env) -> str | None:
    """The file kind `render` writes for `env` ("gif" or "html"), None when nothing can draw it."""
    try:
        return _renderer(env)
    except NoRenderer:
        return None


def no_renderer_reason(env: Env) -> str | None:
    """Why nothing can draw `env` (None when something can)."""
    try:
        _renderer(env)
    except NoRenderer as err:
        return str(err)
    return None


def _renderer(env: Env) -> str:
    from eggroll_bench.envs.brax_adapter import BraxEnv
    from eggroll_bench.envs.gymnax_adapter import GymnaxEnv
    from eggroll_bench.envs.jaxmarl_adapter import JaxMARLEnv

    raw = env.raw
    if isinstance(raw, GymnaxEnv):
        if raw._env.name not in GYMNAX_DRAWN:
            raise NoRenderer(f"{env.spec.name}: gymnax's visualiser draws only {', '.join(GYMNAX_DRAWN)}")
        if raw._env.name in GYMNAX_VIA_PYGAME and importlib.util.find_spec("pygame") is None:
            raise NoRenderer(f"{env.spec.name}: gymnax draws classic control with pygame, a dependency of "
                             f"eggroll-bench that is missing here (pip install 'pygame>=2.6.1')")
        return "gif"
    if isinstance(raw, JaxMARLEnv):
        if not raw.is_mpe:
            raise NoRenderer(f"{env.spec.name}: jaxmarl draws only its MPE tasks")
        return "gif"
    if isinstance(raw, BraxEnv):
        return "html"
    raise NoRenderer(f"{env.spec.name}: no renderer for {type(raw).__name__} tasks "
                     "(gymnax, jaxmarl MPE and brax tasks can be drawn)")


def rollout_keys(key: int) -> tuple[jax.Array, jax.Array]:
    """The evaluation key and the drawing key of `eggroll-bench rollout --key KEY`; the report page
    draws its episodes from the same ones, so that command redraws the page's GIF."""
    eval_key, render_key = jax.random.split(jax.random.PRNGKey(key))
    return eval_key, render_key


def record_episode(env: Env, act: ActFn, key: jax.Array, max_frames: int | None = None) -> Episode:
    """Run `act` for one episode (at most `max_frames` steps) and keep every state it passed through.

    The frames are the states the policy acted in, from the reset to the episode's last step.
    """
    limit = int(min(env.spec.max_steps, max_frames or env.spec.max_steps))
    if limit < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")

    @jax.jit
    def run(key):
        key, reset_key = jax.random.split(key)
        obs, state = env.reset(reset_key)

        def body(carry, _):
            obs, state, key, alive = carry
            key, act_key, step_key = jax.random.split(key, 3)
            action = act(obs[None], act_key)[0]
            obs, new_state, reward, done, _ = env.step(step_key, state, action)
            out = (state.inner, jnp.where(alive, reward.sum(), 0.0), alive)
            return (obs, new_state, key, jnp.logical_and(alive, jnp.logical_not(done))), out

        _, (inner, rewards, alive) = jax.lax.scan(body, (obs, state, key, jnp.asarray(True)), None, length=limit)
        return inner, rewards, alive

    inner, rewards, alive = jax.device_get(run(key))
    length = int(np.asarray(alive).sum())
    states = [jax.tree.map(lambda x, t=t: x[t], inner) for t in range(length)]
    rewards = np.asarray(rewards)[:length]
    return Episode(states, rewards, float(rewards.sum()), length)


def render(env: Env, episode: Episode, path: str | Path) -> Path:
    """Draw `episode` into `path` (a .gif or .html as `renderer(env)` says); returns the path."""
    kind = _renderer(env)
    path = Path(path)
    if path.suffix.lower() != f".{kind}":
        raise ValueError(f"{env.spec.name} renders as .{kind}; got the file name {path.name}")
    if episode.length < 1:
        raise ValueError("the episode has no frames to draw")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "html":
        return _render_brax(env, episode, path)
    import os

    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    # gymnax draws classic control through gymnasium's pygame renderer: no window, no sound card
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    from eggroll_bench.envs.gymnax_adapter import GymnaxEnv

    if isinstance(env.raw, GymnaxEnv):
        from gymnax.visualize import Visualizer

        Visualizer(env.raw._env, env.raw._params, episode.states, np.cumsum(episode.rewards)).animate(
            str(path), view=False)
        return path
    return _render_mpe(env, episode, path)


def _render_mpe(env: Env, episode: Episode, path: Path) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib import animation

    from eggroll_bench.envs.core import import_chatter_to_stderr

    with import_chatter_to_stderr():  # it prints what it found about communication
        from jaxmarl.environments.mpe.mpe_visualizer import MPEVisualizer

        vis = MPEVisualizer(env.raw._env, episode.states)
    try:
        # its own `animate` saves with matplotlib's default writer (ffmpeg) and then opens a window
        ani = animation.FuncAnimation(vis.fig, vis.update, frames=episode.length, blit=False, interval=vis.interval)
        ani.save(str(path), writer=animation.PillowWriter(fps=1000 // vis.interval))
    finally:
        plt.close(vis.fig)
    return path


def _render_brax(env: Env, episode: Episode, path: Path) -> Path:
    from brax.io import html

    brax_env = env.raw._env
    pipeline_states = [current.pipeline_state for current, _first in episode.states]
    path.write_text(html.render(brax_env.sys, pipeline_states))
    return path
