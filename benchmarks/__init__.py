"""Throughput and timing benchmarks: `eggroll-bench bench NAME`, `python -m eggroll_bench.benchmarks NAME` or
`python -m eggroll_bench.benchmarks.NAME`.

generation  env steps / s of a population rollout and of a full generation (rollout + update) for
            pure inference, EGGROLL r=1/r=4 and OpenES, with ratios to pure inference and OpenES
update      the ES update alone (noise regeneration + gradient contraction) vs one forward step
memory      compiled peak memory of one generation, EGGROLL vs OpenES, over population and width
compile     compile time of one trial per algorithm, as the runner compiles it
ppo         PPO env steps / s over the number of parallel environments
ceiling     our ES generation, inference rollout and PPO update as ratios to a bare `lax.scan` of the
            raw library step (gymnax `step_env`, brax `step`) with the same MLP and batch
paper-throughput
            the paper's one-layer experiment: tokens / s of inference, EGGROLL (noise on the fly or
            precomputed), OpenES and a PPO forward + backward, with the paper's bar chart
grouped, vs-evosax, vs-purejaxrl
            a grid trained in one compile vs one at a time; our OpenES and PPO vs evosax and PureJaxRL
determinism one trial trained twice, each in a fresh process, under XLA's default, deterministic and
            no-autotune flags: the same bits every run? (the question a GPU raises)

Every script prints a table, writes `results/bench/NAME.csv` (or `--out DIR`), and takes `--quick`
(CI-sized). Timings are taken after compilation and a warm-up call, interleaved across the
variants of one configuration, median of repeats: the machine may be shared, so the ratios
between variants timed together are the robust numbers. See benchmarks/README.md.
"""
