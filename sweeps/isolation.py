"""Run one trial in a fresh child process, so that a native crash is one failed trial, not a dead sweep.

In-process, an XLA compile that runs out of memory, a segfault in an environment library or the
kernel's OOM killer ends the whole sweep: nothing of the failing trial is recorded and the next
`sweep` run hits the same trial first. Isolated, the child's death (a signal or an exit code) is
recorded as the trial's failure and the sweep goes on. Each child also starts with empty JAX
caches and gives all of its host (and accelerator) memory back when it exits.

The child is forked from a *fork server* (`multiprocessing`'s forkserver), never from the sweep
process: forking a process that has started JAX's thread pools can deadlock, and the fork server
imports JAX and the runner (`PRELOAD`) but never starts a backend. So a trial starts with those
imports done instead of paying them in every process (1.3 s each on 2 cores), and still starts
its own backend, with its own environment, from scratch. The child takes the
sweep process's environment as it is when the trial starts (the fork server's is as it was when
the server started); were a `JAX_*` variable, read when JAX is imported, to differ from the
server's, the trial is spawned instead (a fresh interpreter). The child inherits stdout/stderr, so
the trial's progress bar shows as usual, and sends back either the `TrainResult` or the text of
the exception it raised.
"""
from __future__ import annotations

import ctypes
import importlib
import multiprocessing
import os
import signal
import traceback
from typing import Any, Callable

TrainFn = Callable[..., Any] | str  # a function, or "module:function" imported by the trial process


# What the fork server imports once for every trial process: JAX, flax, optax and the runner's
# modules. Environment libraries are imported by the trials that need them.
PRELOAD = ("eggroll_bench.algos.runner",)
_server_jax_env: dict[str, str] | None = None  # the JAX_* variables the fork server started with


def _context():
    """The fork server's context, or spawn's when JAX's import-time settings have changed since the
    fork server started (a process that imported JAX with other `JAX_*` variables)."""
    global _server_jax_env
    if "forkserver" not in multiprocessing.get_all_start_methods():  # Windows
        return multiprocessing.get_context("spawn")
    jax_env = {k: v for k, v in os.environ.items() if k.startswith("JAX_")}
    if _server_jax_env is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))
        _server_jax_env = jax_env
        return ctx
    return multiprocessing.get_context("forkserver" if jax_env == _server_jax_env else "spawn")


def _die_with_parent() -> None:
    """Linux: have the kernel SIGKILL this child when its parent dies, so an interrupted sweep leaves
    no orphan trial computing results nobody will record. The parent is the fork server, which
    exits when the sweep process does (or the sweep process itself, for a spawned trial)."""
    parent_pid = os.getppid()
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not glibc Linux: the orphan ends when it tries to report
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def prepare_trial_process(env: dict[str, str] | None, modules: tuple[str, ...]) -> None:
    """What every trial process does before training: take its environment (the device it may see,
    the compile-cache setting) before JAX starts a backend, and load the sweep's plugin modules, so
    a user task or algorithm resolves here as it does in the sweep process."""
    os.environ.update(env or {})
    if modules:
        from eggroll_bench.plugins import load_modules

        load_modules(modules)


def resolve_train(train: TrainFn | str | None) -> TrainFn:
    """The function a trial process calls: `train` itself, a "module:function" name imported here
    (so the sweep process can name the runner's functions without importing JAX), or, for None,
    the runner's `train`."""
    if train is None:
        train = "eggroll_bench.algos.runner:train"
    if isinstance(train, str):
        module, _, name = train.partition(":")
        return getattr(importlib.import_module(module), name)
    return train


def _release_fork_server() -> None:
    """Close this child's copy of the fork server's "alive" pipe. Python hands every process it forks
    the writing end, so that the process could start processes through the server too; the server
    exits when every copy is closed. Held here, it would keep the server alive after the sweep
    process died, and with it this child (whose parent the server is). Trials start no processes
    through it. (A spawned child has no copy.)"""
    from multiprocessing import forkserver

    fd = getattr(forkserver._forkserver, "_forkserver_alive_fd", None)
    if fd is not None:
        os.close(fd)
        forkserver._forkserver._forkserver_alive_fd = None


def _child(send, environment: dict[str, str], train: TrainFn | None, args: tuple, kwargs: dict,
           env: dict[str, str] | None = None, modules: tuple[str, ...] = ()) -> None:
    _release_fork_server()
    _die_with_parent()
    os.environ.clear()  # the sweep process's environment now, not the fork server's at its start
    os.environ.update(environment)
    try:
        prepare_trial_process(env, modules)
        result = resolve_train(train)(*args, **kwargs)
    except BaseException as err:  # noqa: BLE001 — reported to the parent, which records it
        tb = traceback.extract_tb(err.__traceback__)
        where = f" (at {tb[-1].filename}:{tb[-1].lineno})" if tb else ""
        send.send(("raised", f"{type(err).__name__}: {err}{where}", "".join(traceback.format_exception(err))))
    else:
        send.send(("ok", result, ""))
    finally:
        send.close()


class TrialCrashed(Exception):
    """The trial's process died without reporting: a signal or a hard exit (the message says which)."""


class TrialTimedOut(TrialCrashed):
    """The trial ran past the sweep's `trial_timeout` and was killed (its checkpoint is kept)."""

    def __init__(self, timeout_s: float):
        super().__init__(f"timed out after {round(timeout_s, 1):g} s (trial_timeout); its process was killed")


class TrialRaised(Exception):
    """The trial raised in its process; `traceback` is the child's formatted traceback."""

    def __init__(self, message: str, child_traceback: str):
        super().__init__(message)
        self.child_traceback = child_traceback


def describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the kernel's OOM killer sends SIGKILL)" if -exitcode == signal.SIGKILL else ""
        return f"the trial's process was killed by {name}{hint}"
    return f"the trial's process exited with code {exitcode} before reporting a result"


class IsolatedTrial:
    """One trial running in its own process (forked or spawned: see the module's docstring);
    `connection` turns readable when it is over (a result, an exception, or EOF when the process
    died), so many can be waited on at once with `multiprocessing.connection.wait`."""

    def __init__(self, train: TrainFn | None, args: tuple, kwargs: dict, *, env: dict[str, str] | None = None,
                 modules: tuple[str, ...] = ()):
        ctx = _context()
        self.connection, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_child, name="eggroll-bench-trial",
                                   args=(send, dict(os.environ), train, args, kwargs, env, tuple(modules)))
        self.process.start()
        send.close()  # the child holds the only writer now: its death reads as EOF here

    def result(self) -> Any:
        """Wait for the trial; its result, or `TrialRaised` / `TrialCrashed`."""
        try:
            try:
                status, payload, child_tb = self.connection.recv()
            except EOFError:
                self.process.join()
                raise TrialCrashed(describe_exit(self.process.exitcode)) from None
            self.process.join()
        finally:
            self.close()
        if status == "raised":
            raise TrialRaised(payload, child_tb)
        return payload

    def kill(self) -> None:
        """End the trial now (SIGKILL: a hung trial may ignore SIGTERM) and release its pipe."""
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()

    def close(self) -> None:
        """Release the pipe; a trial still running (the sweep was interrupted) is ended, not left behind."""
        self.connection.close()
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()


def run_isolated(train: TrainFn | None, *args: Any, **kwargs: Any) -> Any:
    """`train(*args, **kwargs)` in a spawned child; `train=None` means `algos.runner.train`.

    Returns the child's result. Raises `TrialRaised` if it raised and `TrialCrashed` if it died.
    `train` must be importable by the child (a module-level function).
    """
    trial = IsolatedTrial(train, args, kwargs)
    try:
        return trial.result()
    finally:
        trial.close()
