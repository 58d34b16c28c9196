"""Where a sweep's trials run: a local pool of trial processes, or tasks on a Ray cluster.

Both hand each trial to a fresh process and give its `TrainResult` (or its failure) back to the
sweep process, which stays the only writer of the results directory: the lock, the atomic writes
and resume keep their guarantees however many trials run at once.

- `local` (default): up to `workers` spawned trial processes at once (`sweeps.isolation`), each
  killed by the kernel if the sweep process dies (PR_SET_PDEATHSIG). Each sees its share of the
  devices (`DevicePlan`, set before JAX starts), over which the runner splits the trial: with GPUs,
  `workers` defaults to their number over `devices_per_trial` and `devices_per_trial` to their
  number over `workers`, so by default each trial gets one GPU, and with one worker all of them;
  on CPU `workers` defaults to one per core, at most `CPU_WORKERS_MAX` (1 where the sweep forces
  several host devices: one trial is then split over them).
- `ray`: each trial is a Ray task (`max_retries=0`: a failure is recorded, `--retry-failed` reruns
  it; `max_calls=1`: a fresh worker process per trial, as locally) on the cluster at `address`, or
  on a local cluster started and stopped here. A task asks for `devices_per_trial` GPUs (default
  1) where the cluster has GPUs, else `cpus_per_trial` CPUs.

Both stop a trial still running `trial_timeout` minutes after it started (local: its process is
SIGKILLed; Ray: counted from submission, the task is cancelled with force) and hand back
`TrialTimedOut`, a failed trial like any other crash, so a hung trial never holds its slot for ever.

Every trial process gets the sweep process's plugin modules (`plugins.loaded_modules()`) and
compile-cache setting before it trains. Nothing here imports JAX, and Ray only when it is used.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_connections
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, Sequence

from eggroll_bench.algos.host_memory import WORKERS_ENV_VAR
from eggroll_bench.files import write_atomic
from eggroll_bench.sweeps.isolation import (IsolatedTrial, TrialCrashed, TrialRaised, TrialTimedOut,
                                            prepare_trial_process, resolve_train)

KINDS = ("local", "ray")
RAY_INSTALL = 'pip install -e ".[ray]"'
_CONNECT_TIMEOUT_S = 5.0
TrainFn = Callable[..., Any]
Outcome = Any  # a TrainResult, or the TrialRaised / TrialCrashed that ended the trial


class ExecutorError(ValueError):
    """The executor settings cannot be used (unknown kind, workers < 1, no Ray, unreachable address)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_setting(key: str, value: Any) -> None:
    """Refuse one executor setting that cannot be used (`ExecutorError` "key = value: expected ..."),
    for the command line and a sweep file's [executor] table alike; None means not set."""
    if value is None:
        return
    if key == "kind" and value not in KINDS:
        raise ExecutorError(f"kind = {value!r}: allowed: {', '.join(repr(k) for k in KINDS)}")
    if key == "workers" and not (_is_number(value) and isinstance(value, int) and value >= 1):
        raise ExecutorError(f"workers = {value!r}: expected an integer >= 1")
    if key == "cpus_per_trial" and not (_is_number(value) and value > 0):
        raise ExecutorError(f"cpus_per_trial = {value!r}: expected a number > 0")
    if key == "address" and (not isinstance(value, str) or not value.strip()):
        raise ExecutorError(f"address = {value!r}: expected 'auto', 'host:port' or 'ray://host:port'")
    if key == "devices_per_trial" and not (_is_number(value) and isinstance(value, int) and value >= 1):
        raise ExecutorError(f"devices_per_trial = {value!r}: expected an integer >= 1 (the devices one trial "
                            f"is split over)")
    if key == "trial_timeout" and not (_is_number(value) and value > 0):
        raise ExecutorError(f"trial_timeout = {value!r}: expected minutes of wall-clock time per trial "
                            f"(a number > 0, e.g. 90 or 0.5)")


@dataclass(frozen=True)
class ExecutorConfig:
    kind: str = "local"
    # None: local GPUs (CPU: one per core, at most CPU_WORKERS_MAX); on Ray, what the cluster holds
    workers: int | None = None
    address: str | None = None  # Ray only; None starts a local cluster
    cpus_per_trial: float = 1.0  # Ray only, on a cluster without GPUs
    trial_timeout: float | None = None  # minutes of wall-clock time a trial process may run (None: no limit)
    devices_per_trial: int | None = None  # devices a trial is split over (None: local, all over workers; Ray, 1)

    def __post_init__(self):
        for key in SETTINGS:
            check_setting(key, getattr(self, key))
        if self.kind == "local" and self.address is not None:
            raise ExecutorError(f"address = {self.address!r} is for the Ray executor; add --executor ray "
                                f"(or kind = \"ray\" in [executor])")

    @property
    def timeout_s(self) -> float | None:
        return None if self.trial_timeout is None else float(self.trial_timeout) * 60


SETTINGS = tuple(ExecutorConfig.__dataclass_fields__)  # the keys of [executor] and of `settings`


def settings(command_line: Mapping[str, Any], table: Mapping[str, Any] | None = None) -> ExecutorConfig:
    """Executor settings from a sweep file's `[executor]` table, overridden by the command line's
    (keys: `SETTINGS`; None on the command line means not given)."""
    merged = {k: v for k, v in (table or {}).items()}
    merged.update({k: v for k, v in command_line.items() if v is not None})
    return ExecutorConfig(**merged)


def local_gpus() -> list[str]:
    """The GPUs a local trial may be given, counted without JAX: `CUDA_VISIBLE_DEVICES` if set,
    else `nvidia-smi -L`; none where JAX is told to use the CPU."""
    if os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu":
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [d.strip() for d in visible.split(",") if d.strip()]
        return [] if ids[:1] == ["-1"] else ids
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in out.splitlines() if l.startswith("GPU "))]


HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"
_HOST_DEVICES = re.compile(rf"{HOST_DEVICES_FLAG}=(\S*)")


def host_devices(xla_flags: str) -> int | None:
    """The CPU device count forced in `XLA_FLAGS` (None: not forced, JAX's CPU is one device)."""
    found = _HOST_DEVICES.findall(xla_flags)
    return int(found[-1]) if found and found[-1].isdigit() else None


def with_host_devices(xla_flags: str, count: int) -> str:
    """`XLA_FLAGS` with the forced CPU device count set to `count` (other flags kept)."""
    return " ".join([_HOST_DEVICES.sub("", xla_flags).strip(), f"{HOST_DEVICES_FLAG}={count}"]).strip()


# A trial compiles on one core and its CPU run is mostly single-threaded at these sizes: on the 2-core
# CPU, two trials at once ran quick.toml's trials in 0.69x the time of one (245 s vs 356 s, cold, 3 Dec
# 2026). Capped so that a many-core host does not start dozens of ~1 GB processes unasked.
CPU_WORKERS_MAX = 4


def default_cpu_workers() -> int:
    """Trial processes at once on a CPU-only host when `--workers` is not given."""
    return max(1, min(os.cpu_count() or 1, CPU_WORKERS_MAX))


@dataclass(frozen=True)
class DevicePlan:
    """How a local pool divides this machine's devices: `slots` trial processes at once, each seeing
    `per_trial` devices, over which the runner splits the trial (`algos.sharding`).

    On GPUs slot i sees its own slice of `gpus` (`CUDA_VISIBLE_DEVICES`; slices wrap round and are
    shared, without JAX's pre-allocation, when slots x per_trial exceeds the GPUs). On CPU a trial
    sees `per_trial` host devices (XLA's forced host device count), which is how CPU runs split.
    """

    gpus: tuple[str, ...]
    xla_flags: str  # the sweep process's XLA_FLAGS (on CPU it may force several host devices)
    slots: int
    per_trial: int
    default_workers: bool = False  # `slots` is the CPU default (one per core), not given

    def env(self, slot: int) -> dict[str, str]:
        """The environment trial process `slot` starts JAX with."""
        if self.gpus:
            n = len(self.gpus)
            env = {"CUDA_VISIBLE_DEVICES": ",".join(self.gpus[(slot * self.per_trial + k) % n]
                                                    for k in range(self.per_trial))}
            if self.slots * self.per_trial > n:  # GPUs are shared: JAX must not pre-allocate 75% of each
                env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
            return env
        if self.per_trial > 1 or host_devices(self.xla_flags) is not None:
            return {"XLA_FLAGS": with_host_devices(self.xla_flags, self.per_trial)}
        return {}

    def describe(self) -> str:
        if self.gpus:
            return f"{len(self.gpus)} GPUs, {self.per_trial} per trial"
        cpu = "CPU" + (f", {self.per_trial} host devices per trial" if self.per_trial > 1 else "")
        if self.default_workers:
            cpu += f"; one per core up to {CPU_WORKERS_MAX} by default, --workers N to change"
        return cpu


def plan_devices(gpus: Sequence[str], xla_flags: str, workers: int | None,
                 devices_per_trial: int | None) -> DevicePlan:
    """Divide the local devices: `workers` defaults to the GPUs / `devices_per_trial` (on CPU, one
    per core up to `CPU_WORKERS_MAX`, or 1 where trials are split over forced host devices), and
    `devices_per_trial` to the devices / `workers` (at least 1), so that with neither set each trial
    gets one GPU, and with one worker it gets all of them (CPU: every forced host device)."""
    count = len(gpus) if gpus else (host_devices(xla_flags) or 1)
    if gpus and devices_per_trial is not None and devices_per_trial > count:
        raise ExecutorError(f"devices_per_trial = {devices_per_trial}: this machine has {count} GPU"
                            f"{'s' if count > 1 else ''} (CUDA_VISIBLE_DEVICES / nvidia-smi); use at most {count}")
    per_core = workers is None and not gpus and count == 1 and (devices_per_trial or 1) == 1
    if per_core:
        workers = default_cpu_workers()
    elif workers is None and gpus:
        workers = max(1, count // devices_per_trial) if devices_per_trial else count
    elif workers is None:  # one CPU trial split over several host devices
        workers = 1
    per_trial = devices_per_trial or max(1, count // workers)
    return DevicePlan(tuple(gpus), xla_flags, workers, per_trial, per_core)


class _Waiting:
    """`wait` for both executors, over their `_poll` (which may come back empty: a wait for the
    first time limit can end a moment before it)."""

    _running: dict

    def _poll(self) -> list[tuple[Hashable, Outcome]]:
        raise NotImplementedError

    def wait(self) -> list[tuple[Hashable, Outcome]]:
        """Block until at least one running trial is over or past the time limit; (job, result or
        exception) of each that is (`TrialTimedOut` for a trial killed at its limit)."""
        while True:
            done = self._poll()
            if done or not self._running:
                return done


class LocalPool(_Waiting):
    """Up to `slots` trial processes at once, each seeing its share of the devices (`DevicePlan`)."""

    def __init__(self, config: ExecutorConfig, train: TrainFn | None, env: Mapping[str, str], modules: tuple[str, ...]):
        self.devices = plan_devices(local_gpus(), os.environ.get("XLA_FLAGS", ""), config.workers,
                                    config.devices_per_trial)
        self.slots = self.devices.slots
        # how many trial processes share the host's memory (`algos.host_memory`): this pool's size
        self.train, self.env, self.modules = train, {**env, WORKERS_ENV_VAR: str(self.slots)}, tuple(modules)
        self.timeout_s = config.timeout_s
        self._free = list(range(self.slots))
        # connection -> (job, slot, trial, monotonic start)
        self._running: dict[Any, tuple[Hashable, int, IsolatedTrial, float]] = {}

    def describe(self) -> str:
        return (f"local pool of {self.slots} trial process{'es' if self.slots > 1 else ''} "
                f"({self.devices.describe()})" + _limit(self.timeout_s))

    def start(self) -> None:
        pass

    @property
    def running(self) -> int:
        return len(self._running)

    def submit(self, job: Hashable, args: tuple, kwargs: dict) -> None:
        slot = self._free.pop(0)
        env = {**self.env, **self.devices.env(slot)}
        trial = IsolatedTrial(self.train, args, kwargs, env=env, modules=self.modules)
        self._running[trial.connection] = (job, slot, trial, time.monotonic())

    def _poll(self) -> list[tuple[Hashable, Outcome]]:
        done = []
        starts = {conn: started for conn, (_, _, _, started) in self._running.items()}
        for conn in wait_connections(list(self._running), _until_first_limit(starts.values(), self.timeout_s)):
            job, slot, trial, _ = self._running.pop(conn)
            self._free.append(slot)
            try:
                done.append((job, trial.result()))
            except (TrialRaised, TrialCrashed) as err:
                done.append((job, err))
        for conn in _past_limit(starts, self.timeout_s):
            if conn in self._running:
                job, slot, trial, _ = self._running.pop(conn)
                self._free.append(slot)
                trial.kill()
                done.append((job, TrialTimedOut(self.timeout_s)))
        return done

    def close(self) -> None:
        for _, _, trial, _ in self._running.values():
            trial.close()
        self._running.clear()


def _limit(timeout_s: float | None) -> str:
    return "" if timeout_s is None else f", each stopped after {round(timeout_s, 1):g} s (trial_timeout)"


def _until_first_limit(starts, timeout_s: float | None) -> float | None:
    """Seconds until the earliest running trial reaches its limit (None: no limit, wait for ever)."""
    if timeout_s is None:
        return None
    return max(0.0, min(starts) + timeout_s - time.monotonic())


def _past_limit(starts: Mapping[Any, float], timeout_s: float | None) -> list:
    """The running trials (keys of `starts`) that have reached their time limit."""
    if timeout_s is None:
        return []
    now = time.monotonic()
    return [key for key, started in starts.items() if now - started >= timeout_s]


TOKEN_PREFIX = ".ray-visible-"  # the file a Ray task must see in the results directory


class ResultsNotVisible(RuntimeError):
    """A Ray worker cannot see the sweep's results directory (another node, no shared filesystem)."""


def _ray_trial(train: TrainFn | None, args: tuple, kwargs: dict, env: Mapping[str, str], modules: tuple[str, ...],
               token: str | None = None):
    """A trial as a Ray task (a fresh worker process: `max_calls=1`). It writes its policies and
    checkpoints into the sweep's results directory itself, so it first checks that it sees that
    directory: the driver's `token` file, under a random name, must be there."""
    if token is not None and not os.path.exists(token):
        raise ResultsNotVisible(
            f"the results directory {os.path.dirname(token)} is not visible from the Ray worker on "
            f"{socket.gethostname()}: it cannot see {os.path.basename(token)}, which the sweep process wrote "
            f"there. Trials write their policies and checkpoints into it, and the sweep must find them to resume "
            f"and clean up: on a multi-node cluster put the results directory (--out) on a filesystem shared by "
            f"every node and the sweep process (NFS, a cluster filesystem), mounted at the same path")
    env = dict(env)
    # trials sharing this node at most: its resources over a trial's request, and never more than the
    # sweep runs at once (`algos.host_memory`: the memory each plans for, and the host_trials column)
    env[WORKERS_ENV_VAR] = str(min(int(env.get(WORKERS_ENV_VAR, "1")), _node_trials()))
    prepare_trial_process(env, modules)
    return resolve_train(train)(*args, **kwargs)


def _node_trials() -> int:
    """How many trials of this task's resource request fit on the Ray node it runs on."""
    import ray

    context = ray.get_runtime_context()
    asked = {k: v for k, v in context.get_assigned_resources().items() if k in ("CPU", "GPU") and v > 0}
    node = next((n["Resources"] for n in ray.nodes() if n.get("NodeID") == context.get_node_id()), {})
    fits = [int(node.get(k, 0) // v) for k, v in asked.items()]
    return max(1, min(fits, default=1))


def import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError(f"--executor ray needs Ray, which is not installed; install it with {RAY_INSTALL}") \
            from None
    return ray


def check_address(address: str) -> None:
    """Fail fast, naming the address, when nothing listens there (ray.init would retry for a minute)."""
    if address == "auto":
        return  # ray.init finds the local cluster's address itself, or says at once that none runs
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ExecutorError(f"--address {address!r}: expected 'auto', 'host:port' or 'ray://host:port'")
    try:
        socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise ExecutorError(f"--address {address}: no Ray cluster reachable there ({err}); start one "
                            f"(`ray start --head`) or fix the address") from None


class RayExecutor(_Waiting):
    """Trials as Ray tasks on the cluster at `address`, or on a local cluster started here.

    With `out` (the results directory), `start` writes a token file under a random name there and
    every task checks it sees it before training; one that does not stops the sweep with
    `ExecutorError` (a multi-node cluster needs the directory on a shared filesystem)."""

    def __init__(self, config: ExecutorConfig, train: TrainFn | None, env: Mapping[str, str], modules: tuple[str, ...],
                 out: str | os.PathLike | None = None):
        self.ray = import_ray()
        if config.address is not None:
            check_address(config.address)
        self.config, self.train, self.env, self.modules = config, train, dict(env), tuple(modules)
        self.out = None if out is None else os.path.abspath(out)  # a worker's cwd is not this process's
        self.token: str | None = None
        self.slots = config.workers or 1
        self.timeout_s = config.timeout_s
        self._started_cluster = False
        self._running: dict[Any, Hashable] = {}  # ObjectRef -> job
        self._started: dict[Any, float] = {}  # ObjectRef -> monotonic submission time (the limit counts from it)
        self._options: dict[str, Any] = {}
        self._where = ""

    def start(self) -> None:
        """Connect (or start the local cluster); called once, when there is a trial to run."""
        ray = self.ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING}
            if self.config.address is None:
                cpus = (self.config.workers or 0) * self.config.cpus_per_trial or os.cpu_count() or 1
                kwargs["num_cpus"] = max(1, int(round(cpus)))
                self._started_cluster = True
            else:
                kwargs["address"] = self.config.address
            try:
                ray.init(**kwargs)
            except Exception as err:  # noqa: BLE001 — any failure to connect stops the sweep, naming the address
                self._started_cluster = False
                raise ExecutorError(f"Ray at {self.config.address or 'a new local cluster'}: could not connect "
                                    f"({type(err).__name__}: {err})") from None
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), resources.get("CPU", 0)
        per_trial = self.config.devices_per_trial or 1
        if gpus:
            # a task's GPUs must sit on one node: Ray would leave a bigger request pending for ever
            per_node = max((int(n["Resources"].get("GPU", 0)) for n in ray.nodes() if n.get("Alive")), default=0)
            if per_trial > per_node:
                raise ExecutorError(f"devices_per_trial = {per_trial}: the Ray cluster's nodes have at most "
                                    f"{per_node} GPUs each, and one trial's GPUs must be on one node")
            self._options = {"num_gpus": per_trial, "num_cpus": 1}
            capacity = gpus // per_trial
            each = f"{per_trial} GPU{'s' if per_trial > 1 else ''}"
        else:
            self._options = {"num_cpus": self.config.cpus_per_trial}
            capacity = int(cpus // self.config.cpus_per_trial)
            each = f"{self.config.cpus_per_trial:g} CPUs"
            if per_trial > 1:  # as the local pool on CPU: the trial splits over that many host devices
                self.env["XLA_FLAGS"] = with_host_devices(os.environ.get("XLA_FLAGS", ""), per_trial)
                each += f", {per_trial} host devices"
        if capacity < 1:
            raise ExecutorError(f"the Ray cluster has {cpus:g} CPUs and no GPU: not enough for one trial at "
                                f"cpus_per_trial = {self.config.cpus_per_trial:g}")
        self.slots = self.config.workers or capacity
        self.env[WORKERS_ENV_VAR] = str(self.slots)  # the most at once; each trial lowers it to its node's share
        self._remote = ray.remote(max_retries=0, max_calls=1)(_ray_trial).options(**self._options)
        if self.out is not None:
            for stale in Path(self.out).glob(f"{TOKEN_PREFIX}*"):  # left by a killed sweep (the lock is ours now)
                stale.unlink(missing_ok=True)
            self.token = os.path.join(self.out, f"{TOKEN_PREFIX}{uuid.uuid4().hex}")
            write_atomic(Path(self.token), f"written by the sweep process on {socket.gethostname()}, pid "
                                           f"{os.getpid()}; removed when it ends\n")
        self._where = (f"Ray cluster {'started here' if self._started_cluster else self.config.address} "
                       f"({cpus:g} CPUs, {gpus} GPUs), {self.slots} trials at once, each with {each}"
                       + _limit(self.timeout_s))

    def describe(self) -> str:
        return self._where or "Ray"

    @property
    def running(self) -> int:
        return len(self._running)

    def submit(self, job: Hashable, args: tuple, kwargs: dict) -> None:
        ref = self._remote.remote(self.train, args, kwargs, self.env, self.modules, self.token)
        self._running[ref] = job
        self._started[ref] = time.monotonic()

    def _poll(self) -> list[tuple[Hashable, Outcome]]:
        ray = self.ray
        starts = dict(self._started)
        ready, _ = ray.wait(list(self._running), num_returns=1,
                            timeout=_until_first_limit(starts.values(), self.timeout_s))
        done = []
        for ref in _past_limit(starts, self.timeout_s):
            if ref not in ready:
                ray.cancel(ref, force=True)  # kills the task's worker process
                self._started.pop(ref)
                done.append((self._running.pop(ref), TrialTimedOut(self.timeout_s)))
        for ref in ready:
            self._started.pop(ref)
            job = self._running.pop(ref)
            try:
                done.append((job, ray.get(ref)))
            except ray.exceptions.RayTaskError as err:  # the trial raised
                cause = err.cause if getattr(err, "cause", None) is not None else err
                if isinstance(cause, ResultsNotVisible):  # every trial on that node would fail so: stop here
                    raise ExecutorError(str(cause)) from None
                done.append((job, TrialRaised(f"{type(cause).__name__}: {cause}".splitlines()[0], str(err))))
            except ray.exceptions.RayError as err:  # its worker died (signal, OOM), its node left, ...
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                done.append((job, TrialCrashed(f"the trial's Ray worker was lost: {type(err).__name__}: {first}")))
        return done

    def close(self) -> None:
        ray = self.ray
        for ref in self._running:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 — best effort: the driver's exit ends its tasks anyway
                pass
        self._running.clear()
        self._started.clear()
        if self.token is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.token)
            self.token = None
        if self._started_cluster and ray.is_initialized():
            ray.shutdown()
            self._started_cluster = False


def make_executor(config: ExecutorConfig, train: TrainFn | None, env: Mapping[str, str],
                  modules: tuple[str, ...], out: str | os.PathLike | None = None):
    """The executor for `config`, checked (Ray importable, address reachable) but not started; `out`
    is the results directory the trials write to (Ray checks each worker sees it)."""
    if config.kind == "ray":
        return RayExecutor(config, train, env, modules, out)
    return LocalPool(config, train, env, modules)
