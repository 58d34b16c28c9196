"""Saved policies: one seed's final algorithm state, written beside a trial's results, loaded back
as a callable `policy(obs, key) -> action`.

    DIR/policies/<trial_id>/seed_<s>.msgpack   the state's leaves (flax msgpack, numpy arrays)
    DIR/policies/<trial_id>/seed_<s>.json      algo, env, resolved hparams, budget, seed, env_steps,
                                               updates, library versions, code_version, the
                                               plugin modules loaded (`plugins`), policy_bytes

    policy, meta = load_policy("results/mine", "22a4e141c9b5", seed=0)
    action = policy(obs_batch, key)

Format. Every algorithm's state is a pytree, so the saved form is generic: the state's leaves in
`jax.tree.leaves` order, as numpy arrays, packed with `flax.serialization.msgpack_serialize`,
with each leaf's path in the tree (`leaf_paths`, e.g. `algo_state/params/Dense_0/kernel`).
Loading rebuilds the algorithm through the registry (`get_algorithm(algo).make(make(env),
config, budget)`), takes the tree structure from `jax.eval_shape` of its `init`, checks every
leaf's path, shape and dtype against it, and unflattens: a later version that reorders or renames
two same-shaped leaves is refused naming the leaf, instead of loading them swapped. A file written
before paths were stored loads with a warning (shapes and dtypes still checked): its leaf order is
the one this version's algorithms produce, and refusing it would strand every policy and
checkpoint saved until then. Leaves rather than `flax.serialization.
to_bytes(state)`: `to_state_dict` only knows flax dataclasses, dicts, lists and namedtuples, and
an environment library's state (jaxmarl's chex dataclasses) or a plugin algorithm's may be none of
these; `jax.tree.leaves` works for every registered pytree. Orbax was not used: its
asynchronous, directory-per-checkpoint layout buys nothing for a few MB per file and would be one
more dependency.

The JSON sidecar is written after the state file, each atomically (temp file, fsync, rename), so
a policy whose JSON exists is complete. JAX is imported inside functions only: the sweep process,
which never imports JAX, uses the paths from here.
"""
from __future__ import annotations

import contextlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from eggroll_bench.files import write_bytes_atomic

if TYPE_CHECKING:
    from eggroll_bench.algos.base import Algorithm

POLICIES_DIR = "policies"
FORMAT = 1  # bumped when the file layout changes; older files are refused with a clear message


class PolicyError(RuntimeError):
    """A saved policy is missing, incomplete, or does not fit the algorithm it names."""


def pack_leaves(leaves: Sequence[Any], meta: Mapping[str, Any]) -> bytes:
    """Leaves (arrays) and JSON-able `meta` as one msgpack blob."""
    from flax.serialization import msgpack_serialize

    return msgpack_serialize({"format": FORMAT, "meta": json.dumps(dict(meta), sort_keys=True),
                              "leaves": {str(i): np.asarray(x) for i, x in enumerate(leaves)}})


def pack_tree(tree: Any, meta: Mapping[str, Any]) -> bytes:
    """A pytree's leaves, with their paths (`leaf_paths` in the meta, checked by `restore_tree`)."""
    import jax

    return pack_leaves([np.asarray(x) for x in jax.tree.leaves(tree)], {**dict(meta), "leaf_paths": leaf_paths(tree)})


def leaf_paths(tree: Any) -> list[str]:
    """Each leaf's path in `tree`, in leaf order: attribute names, dict keys and indices joined by '/'
    (spelled here rather than by `jax.tree_util.keystr`, whose format is JAX's to change)."""
    import jax

    def part(key: Any) -> str:
        for attr in ("name", "key", "idx"):  # GetAttrKey, DictKey / FlattenedIndexKey, SequenceKey
            if hasattr(key, attr):
                return str(getattr(key, attr))
        return str(key)

    return ["/".join(part(k) for k in path) for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def unpack_leaves(data: bytes, where: Path) -> tuple[list[np.ndarray], dict[str, Any]]:
    from flax.serialization import msgpack_restore

    try:
        blob = msgpack_restore(data)
        fmt = int(blob["format"])
        meta = json.loads(blob["meta"])
        leaves = [np.asarray(blob["leaves"][str(i)]) for i in range(len(blob["leaves"]))]
    except Exception as err:  # noqa: BLE001 — any decoding fault means the same: not our file
        raise PolicyError(f"{where}: not a readable eggroll-bench state file ({type(err).__name__}: {err})") from None
    if fmt != FORMAT:
        raise PolicyError(f"{where}: file format {fmt}, this version reads format {FORMAT}")
    return leaves, meta


def restore_tree(template: Any, leaves: Sequence[np.ndarray], where: Path, paths: Sequence[str] | None = None) -> Any:
    """`leaves` in `template`'s tree structure, after checking paths (when the file has them), count,
    shapes and dtypes (a file saved under another configuration or version fails here, naming the
    first mismatch)."""
    import jax

    want, treedef = jax.tree.flatten(template)
    expected = leaf_paths(template)
    if paths is None:
        warnings.warn(f"{where}: written before leaf paths were stored; its leaves are matched by order, shape "
                      f"and dtype only", stacklevel=2)
    elif list(paths) != expected:
        i = next((i for i, (a, b) in enumerate(zip(paths, expected)) if a != b), min(len(paths), len(expected)))
        held = f"leaf {paths[i]!r}" if i < len(paths) else "no more leaves"
        wanted = f"leaf {expected[i]!r}" if i < len(expected) else "no more leaves"
        raise PolicyError(f"{where}: array {i} is {held}, the algorithm's state has {wanted} there; it was saved by "
                          "another configuration or version of the algorithm (the tree's structure differs)")
    if len(want) != len(leaves):
        raise PolicyError(f"{where}: holds {len(leaves)} arrays, the algorithm's state has {len(want)}; "
                          "it was saved by another configuration or version of the algorithm")
    for i, (w, got) in enumerate(zip(want, leaves)):
        if tuple(w.shape) != got.shape or np.dtype(w.dtype) != got.dtype:
            raise PolicyError(f"{where}: array {i} ({expected[i]}) is {got.dtype}{list(got.shape)}, the algorithm's "
                              f"state expects {np.dtype(w.dtype)}{list(w.shape)}")
    # placed as the template's arrays are (a trial split over devices resumes with its shardings)
    placed = [jax.device_put(x, w.sharding) if isinstance(w, jax.Array) else jax.numpy.asarray(x)
              for w, x in zip(want, leaves)]
    return jax.tree.unflatten(treedef, placed)


def policy_paths(results_dir: str | os.PathLike, trial_id: str, seed: int) -> tuple[Path, Path]:
    """(state file, JSON sidecar) of one seed's saved policy."""
    base = Path(results_dir) / POLICIES_DIR / trial_id
    return base / f"seed_{int(seed)}.msgpack", base / f"seed_{int(seed)}.json"


def save_policy(results_dir: str | os.PathLike, trial_id: str, seed: int, algo_state: Any,
                meta: Mapping[str, Any]) -> tuple[Path, int]:
    """Write one seed's final algorithm state (unbatched) and its metadata; returns (path, bytes).

    `meta` must hold algo, env, hparams, budget (what `load_policy` rebuilds the algorithm from);
    seed, trial_id, policy_bytes and the format are added here.
    """
    import jax

    for key in ("algo", "env", "hparams", "budget"):
        if key not in meta:
            raise ValueError(f"save_policy: meta lacks {key!r} (needed to rebuild the algorithm)")
    state_path, meta_path = policy_paths(results_dir, trial_id, seed)
    data = pack_tree(jax.device_get(algo_state), {"trial_id": trial_id, "seed": int(seed)})
    write_bytes_atomic(state_path, data)
    sidecar = {**dict(meta), "trial_id": trial_id, "seed": int(seed), "format": FORMAT,
               "policy_bytes": len(data), "state_file": state_path.name}
    write_bytes_atomic(meta_path, (json.dumps(sidecar, indent=2, sort_keys=True) + "\n").encode())
    return state_path, len(data)


def saved_seeds(results_dir: str | os.PathLike, trial_id: str) -> list[int]:
    """The seeds of `trial_id` with a complete saved policy (a JSON sidecar)."""
    base = Path(results_dir) / POLICIES_DIR / trial_id
    seeds = []
    for p in base.glob("seed_*.json"):
        with contextlib.suppress(ValueError):
            seeds.append(int(p.stem.removeprefix("seed_")))
    return sorted(seeds)


@dataclass(frozen=True)
class LoadedPolicy:
    act: Callable[[Any, Any], Any]  # act(obs_batch, key) -> actions, the evaluation policy
    meta: dict[str, Any]  # the JSON sidecar
    algorithm: "Algorithm"
    state: Any  # the restored algorithm state

    def __call__(self, obs: Any, key: Any) -> Any:
        return self.act(obs, key)


def load_policy(results_dir: str | os.PathLike, trial_id: str, seed: int | None = None) -> LoadedPolicy:
    """The saved policy of `trial_id`'s `seed` (default: its lowest saved seed), rebuilt through the
    algorithm registry. Raises `PolicyError` naming what is missing or does not fit."""
    import jax

    if seed is None:
        seeds = saved_seeds(results_dir, trial_id)
        if not seeds:
            raise PolicyError(_missing(results_dir, trial_id))
        seed = seeds[0]
    state_path, meta_path = policy_paths(results_dir, trial_id, seed)
    if not meta_path.exists():
        have = saved_seeds(results_dir, trial_id)
        raise PolicyError(f"no saved policy for seed {seed} of trial {trial_id} in {results_dir}; saved seeds: "
                          f"{', '.join(map(str, have))}" if have else _missing(results_dir, trial_id))
    meta = json.loads(meta_path.read_text())
    if not state_path.exists():
        raise PolicyError(f"{state_path}: missing (its sidecar {meta_path.name} exists); the policy cannot be loaded")
    leaves, held = unpack_leaves(state_path.read_bytes(), state_path)
    algorithm = _rebuild(meta, meta_path)
    template = jax.eval_shape(algorithm.init, jax.random.PRNGKey(0))
    state = restore_tree(template, leaves, state_path, held.get("leaf_paths"))
    return LoadedPolicy(algorithm.eval_act(state), meta, algorithm, state)


def _rebuild(meta: Mapping[str, Any], meta_path: Path) -> "Algorithm":
    """The algorithm a sidecar names, or a `PolicyError` saying what of it this process lacks: the
    plugin modules it was trained with, the algorithm, a hyperparameter, the task or its library."""
    from eggroll_bench import plugins
    from eggroll_bench.algos.config import ConfigError
    from eggroll_bench.algos.registry import algorithm_names, build_config, get_algorithm
    from eggroll_bench.envs.registry import MissingExtraError, make

    modules = list(meta.get("plugins", []))
    try:
        plugins.load_modules(modules)  # what the training process had loaded by name
    except plugins.PluginError as err:
        raise PolicyError(f"{meta_path}: the policy was trained with plugin modules {modules} loaded, and {err}") from None
    algo = meta["algo"]
    try:
        get_algorithm(algo)
    except ConfigError:
        how = (f"it was trained with the plugin modules {modules}, which do not register it now" if modules else
               "if a plugin of yours registers it, pass --import MODULE (this sidecar does not record which)")
        raise PolicyError(f"{meta_path}: algorithm {algo!r} is not registered ({how}); registered: "
                          f"{', '.join(algorithm_names())}") from None
    try:
        config = build_config(algo, meta["hparams"])
    except ConfigError as err:
        raise PolicyError(f"{meta_path}: its hyperparameters do not fit this version's {algo} (saved by "
                          f"eggroll-bench {meta.get('code_version', 'of unknown version')}): {err}") from None
    try:
        env = make(meta["env"])
    except (KeyError, MissingExtraError) as err:
        raise PolicyError(f"{meta_path}: task {meta['env']!r} cannot be built here: "
                          f"{err.args[0] if err.args else err}") from None
    return get_algorithm(algo).make(env, config, int(meta["budget"]))


def _missing(results_dir: str | os.PathLike, trial_id: str) -> str:
    base = Path(results_dir) / POLICIES_DIR
    trials = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    listed = f"; trials with saved policies: {', '.join(trials[:20])}" if trials else \
        " (no policies/ there: train with --out DIR, without --no-save)"
    return f"no saved policy for trial {trial_id!r} in {results_dir}{listed}"
