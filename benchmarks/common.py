"""Timing, grids, tables and CSV output shared by the benchmark scripts.

Timing discipline (the machine is shared and noisy): every variant of one configuration is
compiled first, called once to warm up, then the variants are timed in turn — interleaved, so a
burst of load from another process hits all of them alike — and the median of the repeats is
kept, with the fastest repeat beside it. On 2 cores another process taking one of them can halve
a call's speed, so rows carry the load average, and the best-of-repeats ratios are the ones to
trust when it was high. Only ratios between variants timed together are meaningful.
"""
from __future__ import annotations

import csv
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax

from eggroll_bench.benchmarks import options
from eggroll_bench.provenance import code_version


def backend() -> str:
    return jax.default_backend()


def on_accelerator() -> bool:
    return backend() in ("gpu", "tpu")


def grid(quick: bool, cpu: Sequence[int], accel: Sequence[int], quick_values: Sequence[int],
         given: Sequence[int] | None = None) -> list[int]:
    """The values to sweep: the user's, else the quick grid, else the backend's full grid."""
    if given:
        return list(given)
    if quick:
        return list(quick_values)
    return list(accel if on_accelerator() else cpu)


def block(x: Any) -> Any:
    return jax.block_until_ready(x)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    block(fn())
    return time.perf_counter() - start


@dataclass(frozen=True)
class Timing:
    seconds: float  # median seconds per call
    best: float  # fastest call: on a shared machine, the closest to an uncontended call
    repeats: int  # timed calls behind the median
    output: Any  # what the warm-up call returned (e.g. the env steps the call counted)


def interleaved(fns: Mapping[Any, Callable[[], Any]], repeats: int, budget_s: float = float("inf"),
                ) -> dict[Any, Timing | BaseException]:
    """Median seconds per call of each fn, timed round-robin after one warm-up call each.

    A variant whose warm-up call is slow gets fewer timed calls (at least one) so that it spends
    about `budget_s` at most: an OpenES call at a large width can take a minute on a CPU. A variant
    that raises (e.g. out of memory) is reported as its exception and dropped from the rounds.
    """
    quota, outputs, failed = {}, {}, {}
    for name, fn in fns.items():
        try:
            start = time.perf_counter()
            outputs[name] = block(fn())
            first = time.perf_counter() - start
        except Exception as err:  # noqa: BLE001 - reported in the table, the grid goes on
            failed[name] = err
            continue
        fits = budget_s / max(first, 1e-9)
        quota[name] = max(1, min(repeats, int(fits) if math.isfinite(fits) else repeats))
    samples: dict[Any, list[float]] = {name: [] for name in quota}
    for i in range(max(quota.values(), default=0)):
        for name in quota:
            if i < quota[name]:
                samples[name].append(timed(fns[name]))
    done = {name: Timing(statistics.median(s), min(s), len(s), outputs[name]) for name, s in samples.items()}
    return {**done, **failed}



def record_throughput(rows: Mapping[Any, dict[str, Any]], timings: Mapping[Any, Timing | BaseException]) -> None:
    """Fill each row from its timing: the load now, and env steps / s from the steps its call counted.

    Every timed call returns (..., env_steps) as its second output, counted inside the compiled
    call the way the runner counts them.
    """
    for row in rows.values():
        row["load"] = load()
    for name, timing in timings.items():
        if isinstance(timing, BaseException):
            rows[name]["status"] = short_error(timing)
            continue
        steps = int(timing.output[1])
        rows[name].update(env_steps=steps, seconds=timing.seconds, steps_per_s=steps / timing.seconds,
                          best_steps_per_s=steps / timing.best, repeats=timing.repeats)

# XLA:CPU's YNNPACK fusions off. With them on (jaxlib 0.10 default), the per-member elementwise
# work of an EGGROLL layer is fused into the shared GEMM, which then runs ~1.5-2x slower; see docs/benchmarks.md.
NO_YNN = {"xla_cpu_experimental_ynn_fusion_type": ""}


def compiler_options(no_ynn: bool) -> dict[str, str] | None:
    """What `--no-ynn` asks for; the option exists on the CPU backend only."""
    return NO_YNN if no_ynn and backend() == "cpu" else None


def compile_jit(fn: Callable, *args: Any, compiler_opts: Mapping[str, str] | None = None, **jit_kwargs: Any):
    """AOT-compile `fn` for `args` (arrays or ShapeDtypeStructs): (compiled, seconds to compile)."""
    start = time.perf_counter()
    opts = dict(compiler_opts) if compiler_opts else None
    compiled = jax.jit(fn, **jit_kwargs).lower(*args).compile(compiler_options=opts)
    return compiled, time.perf_counter() - start


def compile_many(jobs: Mapping[Any, tuple[Callable, tuple]], compiler_opts: Mapping[str, str] | None = None,
                 workers: int | None = None) -> dict[Any, Any]:
    """Compile several (fn, args) at once: {name: compiled, or the exception it raised}. XLA
    compiles outside the GIL, so two threads cut the wall time of a grid whose cost is mostly
    compilation (~1.4x on 2 loaded cores)."""
    workers = workers or max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        futures = {name: pool.submit(compile_jit, fn, *args, compiler_opts=compiler_opts)
                   for name, (fn, args) in jobs.items()}
        return {name: _result(f) for name, f in futures.items()}


def _result(future) -> Any:
    try:
        return future.result()[0]
    except Exception as err:  # one failed variant (e.g. out of memory) must not end the grid
        return err


def short_error(err: BaseException) -> str:
    """A one-line error for a CSV cell."""
    text = str(err).strip().splitlines()
    return f"error: {type(err).__name__}: {text[0][:160] if text else ''}"


def footprint_bytes(compiled) -> int | None:
    """Peak memory XLA plans for one call: temporaries + arguments + outputs (None if unknown)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return None
    return int(stats.temp_size_in_bytes + stats.argument_size_in_bytes + stats.output_size_in_bytes
               - stats.alias_size_in_bytes)


def new_bytes(compiled) -> int | None:
    """What one call allocates beyond its arguments: temporaries + outputs (None if unknown)."""
    stats = compiled.memory_analysis()
    if stats is None:
        return None
    return int(stats.temp_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes)


def available_bytes() -> int:
    """Free host memory (MemAvailable), or 8 GiB when it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 8 << 30


def memory_cap(max_gb: float | None) -> int:
    """Largest compiled footprint a benchmark may run; on CPU half the free RAM by default, so
    the other processes on the machine keep theirs. Accelerators: no cap (XLA reports OOM)."""
    if max_gb is not None:
        return int(max_gb * (1 << 30))
    return available_bytes() // 2 if not on_accelerator() else 1 << 62


def fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if value == 0 or 1e-3 <= abs(value) < 1e4:
            return f"{value:.3g}" if abs(value) < 100 else f"{value:,.0f}"
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.2e}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return str(value)


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], title: str = "") -> None:
    if title:
        print(f"\n{title}")
    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))


# Every row says where, when and with what it was measured: an appended CSV mixes runs of several
# sessions and machines (rows kept from before these columns existed have them empty).
PROVENANCE_COLUMNS = ("machine", "jax", "code_version", "measured")


def provenance_stamp() -> dict[str, str]:
    return {"machine": machine(), "jax": jax.__version__, "code_version": code_version(),
            "measured": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")}


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path, columns: Sequence[str] | None = None,
              append_keys: Sequence[str] | None = None) -> Path:
    """Write rows atomically (a half-written CSV never replaces a good one), each stamped with
    `PROVENANCE_COLUMNS` (this machine, jax, the code's version, the UTC time of writing).

    With `append_keys`, rows already in the file are kept unless a new row has the same values
    of those columns: a grid can be measured in several runs (e.g. one per task) into one CSV.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(columns or (rows[0].keys() if rows else []))
    columns += [c for c in PROVENANCE_COLUMNS if c not in columns]
    stamp = provenance_stamp()
    rows = [{**stamp, **r} for r in rows]
    if append_keys and path.is_file():
        def key(r):
            return tuple(str(r.get(k, "")) for k in append_keys)

        new = {key(r) for r in rows}
        with open(path, newline="") as f:
            old = [r for r in csv.DictReader(f) if key(r) not in new]
        rows = old + list(rows)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def load() -> float:
    """1-minute load average: above the core count, another process was competing for the CPU
    while a row was timed (recorded with each row; only ratios of one row group are robust)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def machine() -> str:
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return f"{cpu_model()}, {os.cpu_count()} cores, CPU backend"
    return f"{dev.device_kind} x{jax.device_count()}"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def in_fresh_process(module: str, call: str) -> float:
    """The number `module.call` returns, computed in a fresh Python process: compile seconds are
    measured there, as a CLI trial compiles (one trial, one process), because XLA:CPU reuses the
    kernels of programs compiled earlier in a process (a second one compiled up to 2x faster)."""
    code = f"import {module} as m; print('value', m.{call})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    lines = [line for line in done.stdout.splitlines() if line.startswith("value ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{call} failed: {(done.stderr.strip().splitlines() or [''])[-1]}")
    return float(lines[-1].split()[1])


def run_main(name: str, run: Callable[[Any], int], argv: list[str] | None) -> int:
    """`python -m eggroll_bench.benchmarks.NAME`: parse, check --out, run; bad input -> message and status 2."""
    args = options.parser(name).parse_args(argv)
    return run_checked(name, run, args)


def run_checked(name: str, run: Callable[[Any], int], args: Any) -> int:
    try:
        options.check_out(args.out)
        return run(args)
    except options.BenchError as err:
        print(f"benchmark {name}: error: {err}", file=sys.stderr)
        return 2


def header(name: str, quick: bool) -> None:
    print(f"# benchmark {name} ({'quick' if quick else 'full'} grid) on {machine()}, jax {jax.__version__}",
          flush=True)
