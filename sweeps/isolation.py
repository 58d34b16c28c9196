"""Run one trial in a fresh child process, so that a native crash is one failed trial, not a dead sweep.

In-process, an XLA compile that runs out of memory, a segfault in an environment library or the
kernel's OOM killer ends the whole sweep: nothing of the failing trial is recorded and the next
`sweep` run hits the same trial first. Isolated, the child's death (a signal or an exit code) is
recorded as the trial's failure and the sweep goes on. Each child also starts with empty JAX
caches and gives all of its host (and accelerator) memory back when it exits.

The child is *spawned*, never forked: forking a process that has started JAX's thread pools can
deadlock. It inherits stdout/stderr, so the trial's progress bar shows as usual, and sends back
either the `TrainResult` or the text of the exception it raised.
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


def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel SIGKILL this child when the sweep process dies (killed, crashed), so an
    interrupted sweep leaves no orphan trial computing results nobody will record."""
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


def _child(send, parent_pid: int, train: TrainFn | None, args: tuple, kwargs: dict,
           env: dict[str, str] | None = None, modules: tuple[str, ...] = ()) -> None:
    _die_with_parent(parent_pid)
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
    """One trial running in its own spawned process; `connection` turns readable when it is over
    (a result, an exception, or EOF when the process died), so many can be waited on at once with
    `multiprocessing.connection.wait`."""

    def __init__(self, train: TrainFn | None, args: tuple, kwargs: dict, *, env: dict[str, str] | None = None,
                 modules: tuple[str, ...] = ()):
        ctx = multiprocessing.get_context("spawn")
        self.connection, send = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_child, args=(send, os.getpid(), train, args, kwargs, env, tuple(modules)),
                                   name="eggroll-bench-trial")
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
