"""The paper's throughput experiment: one square linear layer, one token per population member.

    python -m eggroll_bench.benchmarks.paper_throughput [--quick] [--width 8192] [--pop 4096] [--dtype auto]

EGGROLL (arXiv 2511.16652) measures, on one GH200, the tokens / s of a single 8192 × 8192 linear
layer applied to a batch of population members, one token each, as a fraction of pure batched
inference: EGGROLL 91 %, EGGROLL with on-the-fly PRNG 69 %, PPO 34 %, OpenES 0.41 %. Here, for a
width W and N members (x: N × W, the kernel stored (in, out) as in `algos/network.py`, so
y = x Wᵀ = x @ kernel):

- inference:          y = x @ kernel, one shared matrix: the ceiling (100 %);
- eggroll-on-the-fly: y = x @ kernel + σ (x B_i) A_iᵀ with A_i, B_i drawn inside the call from the
                      counter-based keys of `algos.noise` (`LowRankNoise.sample`, i.e. `member_key`'s
                      fold_in(leaf, generation, member // 2) and the antithetic sign), rank 1;
- eggroll-precomputed: the same forward with A, B given as inputs (drawn once, outside the timing);
- openes:             each member's full perturbed matrix kernel + σ ε_i materialised (`FullRankNoise`'s
                      draw from the same keys), then x_i (kernel + σ ε_i); members go through
                      `lax.map` in chunks of about 256 MiB of matrices, since N full matrices do not fit
                      (8192² bf16 × 4096 members would be 512 GiB);
- ppo:                forward and backward of the same layer (gradients of a squared-output loss with
                      respect to the kernel and the input, as a layer inside a network needs): three
                      GEMMs of the forward's size.

Each variant's tokens / s is reported as a fraction of inference's (`fraction`) beside the paper's
(`paper_fraction`). We pair the paper's "EGGROLL" (91 %) with our precomputed-noise variant and its
"EGGROLL with on-the-fly PRNG" (69 %) with our on-the-fly one, as the paper's labels say.

Precision: `--dtype auto` is bfloat16 on GPU/TPU, as the paper, and float32 on CPU: this project's
reference CPU (AVX2, no AVX512-BF16 or AMX) has no bf16 arithmetic, so XLA:CPU converts bf16 operands
to float32 around every dot and elementwise op, which measures the conversions rather than the
methods. `--dtype bfloat16` forces it anyway. Noise is drawn in the layer's dtype.

Timing as the other benchmarks: compiled ahead of time, one warm-up call, interleaved rounds,
median (and best) of the repeats. Writes `paper_throughput.csv` and, unless `--no-plot`, the bar
chart `paper_throughput.png` / `.pdf` (matplotlib directly: `plots/` is a higher layer).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from eggroll_bench.algos.noise import FullRankNoise, LowRankNoise, member_key
from eggroll_bench.benchmarks import common

SIGMA = 0.01
RANK = 1
# the paper's fractions of pure inference (GH200, width 8192, bf16), as published
PAPER = {"eggroll-precomputed": 0.91, "eggroll-on-the-fly": 0.69, "ppo": 0.34, "openes": 0.0041}
PAPER_LABELS = {"eggroll-precomputed": "EGGROLL", "eggroll-on-the-fly": "EGGROLL, on-the-fly PRNG",
                "ppo": "PPO", "openes": "OpenES"}
VARIANTS = ("inference", "eggroll-on-the-fly", "eggroll-precomputed", "openes", "ppo")
OPENES_CHUNK_BYTES = 256 << 20  # member matrices materialised at once by OpenES

COLUMNS = ["variant", "width", "pop", "dtype", "tokens", "seconds", "tokens_per_s", "fraction", "best_tokens_per_s",
           "fraction_best", "paper_fraction", "compile_s", "repeats", "device", "xla", "load", "status"]
KEYS = ["variant", "width", "pop", "dtype", "device", "xla"]


def pick_dtype(choice: str) -> jnp.dtype:
    if choice == "auto":
        return jnp.bfloat16 if common.on_accelerator() else jnp.float32
    return jnp.dtype(choice)


def low_rank(noise_key, generation, kernel, pop):
    """A (N, m, r) and B (N, n, r) of every member, from `algos.noise`'s counter-based keys."""
    noise = LowRankNoise(pop, True, RANK).sample(noise_key, generation, {"kernel": kernel})[("kernel",)]
    return noise["A"], noise["B"]


def eggroll_forward(x, kernel, a, b):
    xb = jnp.einsum("in,inr->ir", x, b)
    return x @ kernel + (SIGMA / math.sqrt(RANK)) * jnp.einsum("ir,imr->im", xb, a).astype(x.dtype)


def jobs(width: int, pop: int, dtype) -> dict[str, tuple]:
    """{variant: (fn, args)}; every fn returns the N × W outputs (or gradients) it computed."""
    k_x, k_w, noise_key = jax.random.split(jax.random.PRNGKey(0), 3)
    x = jax.random.normal(k_x, (pop, width), dtype)
    kernel = (jax.random.normal(k_w, (width, width), dtype) / math.sqrt(width)).astype(dtype)
    generation = jnp.asarray(0)
    a, b = jax.jit(low_rank, static_argnums=3)(noise_key, generation, kernel, pop)
    openes = FullRankNoise(pop, True)
    chunk = max(1, min(pop, OPENES_CHUNK_BYTES // (width * width * jnp.dtype(dtype).itemsize)))

    def inference(x, kernel):
        return x @ kernel

    def on_the_fly(x, kernel, noise_key, generation):
        a, b = low_rank(noise_key, generation, kernel, pop)
        return eggroll_forward(x, kernel, a, b)

    def full_rank(x, kernel, noise_key, generation):
        def member(args):
            i, xi = args
            key, sign = member_key(noise_key, 0, generation, i, True)
            eps = openes.leaf_noise(key, ("kernel",), kernel)
            return xi @ (kernel + (SIGMA * sign).astype(dtype) * eps)

        return jax.lax.map(member, (jnp.arange(pop), x), batch_size=chunk)

    def ppo(x, kernel):
        def loss(kernel, x):
            y = (x @ kernel).astype(jnp.float32)
            return 0.5 * jnp.mean(y * y)

        return jax.grad(loss, argnums=(0, 1))(kernel, x)

    return {"inference": (inference, (x, kernel)),
            "eggroll-on-the-fly": (on_the_fly, (x, kernel, noise_key, generation)),
            "eggroll-precomputed": (eggroll_forward, (x, kernel, a, b)),
            "openes": (full_rank, (x, kernel, noise_key, generation)),
            "ppo": (ppo, (x, kernel))}


def measure(width: int, pop: int, dtype, repeats: int, budget_s: float, no_ynn: bool = False
            ) -> list[dict[str, Any]]:
    device = common.machine()
    opts = common.compiler_options(no_ynn)
    rows, calls = {}, {}
    for name, (fn, args) in jobs(width, pop, dtype).items():
        rows[name] = row = {"variant": name, "width": width, "pop": pop, "dtype": jnp.dtype(dtype).name,
                            "tokens": pop, "paper_fraction": PAPER.get(name, 1.0 if name == "inference" else ""),
                            "device": device, "xla": "no-ynn" if opts else "default", "status": "ok"}
        try:
            compiled, row["compile_s"] = common.compile_jit(fn, *args, compiler_opts=opts)
        except Exception as err:  # noqa: BLE001 - e.g. out of memory: a row, the others go on
            row["status"] = common.short_error(err)
            continue
        calls[name] = (lambda c=compiled, a=args: c(*a))
    timings = common.interleaved(calls, repeats, budget_s)
    for name, timing in timings.items():
        row = rows[name]
        row["load"] = common.load()
        if isinstance(timing, BaseException):
            row["status"] = common.short_error(timing)
            continue
        row.update(seconds=timing.seconds, tokens_per_s=pop / timing.seconds, best_tokens_per_s=pop / timing.best,
                   repeats=timing.repeats)
    ceiling = rows["inference"]
    for row in rows.values():
        for column, ratio in (("tokens_per_s", "fraction"), ("best_tokens_per_s", "fraction_best")):
            if row.get(column) and ceiling.get(column):
                row[ratio] = row[column] / ceiling[column]
    return list(rows.values())


def plot(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """The paper's bar chart: each method's fraction of inference, ours beside the paper's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = {r["variant"]: r for r in rows if r.get("fraction") is not None}
    names = [n for n in PAPER if n in measured]
    first = rows[0]
    ours_label = f"ours: {first['device']}, {first['dtype']}, width {first['width']}, {first['pop']} members" + \
        (", YNNPACK fusions off" if first.get("xla") == "no-ynn" else "")
    fig, ax = plt.subplots(figsize=(8, 5))
    xs = range(len(names))
    width = 0.38
    ours = [100 * measured[n]["fraction"] for n in names]
    paper = [100 * PAPER[n] for n in names]
    bars_ours = ax.bar([x - width / 2 for x in xs], ours, width, label=ours_label, color="#1f77b4")
    bars_paper = ax.bar([x + width / 2 for x in xs], paper, width, color="#bbbbbb", hatch="//", edgecolor="#555555",
                        label="the paper's published fractions (GH200, width 8192, bf16)")
    for bars in (bars_ours, bars_paper):
        for bar in bars:
            value = bar.get_height()
            ax.annotate(f"{value:.3g}%", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                        fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.axhline(100, color="black", lw=0.8, ls="--")
    ax.text(len(names) - 0.5, 101, "pure batched inference = 100%", ha="right", va="bottom", fontsize=8)
    ax.set_xticks(list(xs), [PAPER_LABELS[n] for n in names])
    ax.set_ylabel("throughput, % of pure inference")
    ax.set_ylim(0, 120)
    ax.set_title("One linear layer, one token per population member")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    fig.tight_layout()
    paths = [out / "paper_throughput.png", out / "paper_throughput.pdf"]
    for path in paths:
        fig.savefig(path, dpi=150)
    plt.close(fig)
    return paths


def run(args: argparse.Namespace) -> int:
    accel = common.on_accelerator()
    width = args.width or (256 if args.quick else (8192 if accel else 1024))
    pop = args.pop or (64 if args.quick else (4096 if accel else 1024))
    dtype = pick_dtype(args.dtype)
    repeats = args.repeats or (3 if args.quick else 5)
    common.header("paper-throughput", args.quick)
    rows = measure(width, pop, dtype, repeats, 5.0 if args.quick else 40.0, args.no_ynn)
    common.print_table(rows, ["variant", "tokens_per_s", "fraction", "fraction_best", "paper_fraction", "compile_s",
                              "repeats", "status"],
                       f"width {width}, {pop} members (one token each), {jnp.dtype(dtype).name}, "
                       f"XLA {rows[0]['xla']}, load {common.load()}")
    out = Path(args.out)
    print(f"\nwrote {common.write_csv(rows, out / 'paper_throughput.csv', COLUMNS, KEYS if args.append else None)}")
    if not args.no_plot:
        for path in plot(rows, out):
            print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return common.run_main("paper-throughput", run, argv)


if __name__ == "__main__":
    sys.exit(main())
