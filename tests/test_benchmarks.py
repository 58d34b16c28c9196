"""The benchmark scripts: CLI wiring, bad input, CSV outputs, and identical env-step counting.

Every script runs on the tiniest sizes (hidden 8-16, a handful of members, 2-step horizons) with
one repeat: these tests check what is written, never how fast anything is.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import jax
import numpy as np
import pytest

from eggroll_bench.benchmarks import ceiling, common
from eggroll_bench.benchmarks import compile as compile_bench
from eggroll_bench.benchmarks import determinism, generation, memory, paper_throughput, ppo, update, workloads
from eggroll_bench.cli import build_parser

TINY_NET = ["--widths", "8", "--pops", "4", "--repeats", "1"]
STAMP = list(common.PROVENANCE_COLUMNS)  # every CSV row says where, when and with what


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def positive_finite(rows: list[dict[str, str]], column: str) -> bool:
    values = [float(r[column]) for r in rows]
    return bool(values) and all(math.isfinite(v) and v > 0 for v in values)


def test_cli_registers_bench_and_its_scripts():
    args = build_parser().parse_args(["bench", "generation", "--quick", "--out", "somewhere"])
    assert (args.command, args.bench, args.quick, args.out) == ("bench", "generation", True, "somewhere")
    assert callable(args.func)
    every = build_parser().parse_args(["bench", "all", "--quick"])
    assert every.bench == "all" and every.quick


@pytest.mark.parametrize("argv", [["bench", "nosuch"], ["bench", "generation", "--widths", "0"],
                                  ["bench", "ppo", "--num-envs", "many"],
                                  ["bench", "determinism", "--variants", "default,fast"]])
def test_cli_refuses_unknown_scripts_and_bad_values(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_python_m_benchmarks_runs_the_same_commands(tmp_path):
    """`python -m eggroll_bench.benchmarks NAME` (documented beside `eggroll-bench bench NAME`)."""
    import subprocess
    import sys
    run = lambda *argv: subprocess.run([sys.executable, "-m", "eggroll_bench.benchmarks", *argv],
                                       capture_output=True, text=True, timeout=120)
    listed = run("--help")
    assert listed.returncode == 0 and all(name in listed.stdout for name in ("generation", "ceiling", "all"))
    bad = run("ceiling", "--envs", "CartPol-v1", "--out", str(tmp_path))
    assert bad.returncode == 2 and "unknown task 'CartPol-v1'" in bad.stderr
    assert not list(tmp_path.glob("*.csv"))


def test_unusable_out_and_unknown_task_are_refused_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert memory.main(["--quick", "--out", str(blocker)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    out = tmp_path / "out"
    assert generation.main(["--envs", "CartPol-v1", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown task 'CartPol-v1'" in err and "CartPole-v1" in err
    assert not list(out.glob("*.csv"))


def test_generation_writes_throughputs_and_the_inference_ceiling(tmp_path):
    ceiling = tmp_path / "ceiling.csv"
    argv = TINY_NET + ["--envs", "CartPole-v1", "--ranks", "2", "--algos", "eggroll", "--horizon", "2", "--no-full",
                       "--inference-csv", str(ceiling)]
    assert generation.main(argv + ["--out", str(tmp_path)]) == 0
    columns, rows = read(tmp_path / "generation.csv")
    assert columns == generation.COLUMNS + STAMP
    assert {r["variant"] for r in rows} == {"inference", "eggroll-r2"}
    assert {r["kind"] for r in rows} == {"inference", "rollout"}  # "generation": see the step-count test
    assert all(r["status"] == "ok" for r in rows)
    assert positive_finite(rows, "steps_per_s")
    assert {int(r["env_steps"]) for r in rows} == {4 * 2}  # every variant: pop x horizon, counted in the call
    assert [float(r["x_inference"]) for r in rows if r["variant"] == "inference"] == [1.0]

    columns, ceiling_rows = read(ceiling)
    assert columns == ["hidden", "pop_size", "steps_per_s"] + STAMP  # plots/ reads the first three
    inference = next(r for r in rows if r["variant"] == "inference")
    assert [{k: r[k] for k in ("hidden", "pop_size", "steps_per_s")} for r in ceiling_rows] == \
        [{"hidden": "8", "pop_size": "4", "steps_per_s": inference["steps_per_s"]}]

    from eggroll_bench.plots.figures_systems import load_inference

    table, why_not = load_inference(ceiling)
    assert why_not == "" and table["steps_per_s"].iloc[0] > 0


@pytest.mark.parametrize("script, argv, measured", [
    (update, TINY_NET + ["--ranks", "1", "--algos", "eggroll"],
     ["sample_ms", "gradient_ms", "update_ms", "step_ms", "inference_step_ms"]),
    (compile_bench, ["--envs", "CartPole-v1", "--algos", "openes", "--presets", "tiny", "--repeats", "1"],
     ["compile_s", "total_s"]),
    (ppo, ["--envs", "CartPole-v1", "--num-envs", "2", "--num-steps", "8", "--hidden", "8", "--repeats", "1",
           "--reset-pool", "0,1"], ["steps_per_s"]),
], ids=["update", "compile", "ppo"])
def test_each_script_writes_its_csv_with_positive_numbers(script, argv, measured, tmp_path):
    assert script.main(argv + ["--out", str(tmp_path)]) == 0
    name = script.__name__.rsplit(".", 1)[1]
    columns, rows = read(tmp_path / f"{name}.csv")
    assert columns == script.COLUMNS + STAMP
    assert rows and all(r["status"] == "ok" for r in rows)
    for column in measured:
        assert positive_finite(rows, column), column


def test_ppo_times_each_reset_pool_and_refuses_one_larger_than_the_batch(tmp_path, capsys):
    argv = ["--envs", "CartPole-v1", "--num-envs", "2", "--num-steps", "8", "--hidden", "8", "--repeats", "1"]
    assert ppo.main(argv + ["--reset-pool", "0,3", "--out", str(tmp_path)]) == 2
    assert "reset_pool=3 exceeds num_envs=2" in capsys.readouterr().err
    assert not (tmp_path / "ppo.csv").exists()
    assert ppo.main(argv + ["--reset-pool", "0,2", "--out", str(tmp_path)]) == 0
    _, rows = read(tmp_path / "ppo.csv")
    assert [(r["num_envs"], r["reset_pool"], r["standard"]) for r in rows] == [("2", "0", ""), ("2", "2", "")]


def test_memory_writes_compiled_sizes(tmp_path):
    assert memory.main(TINY_NET + ["--horizon", "2", "--out", str(tmp_path)]) == 0
    columns, rows = read(tmp_path / "memory.csv")
    assert columns == memory.COLUMNS + STAMP and {r["algo"] for r in rows} == {"eggroll", "openes"}
    assert all(r["status"] == "ok" for r in rows)
    for column in ("temp_mb", "peak_mb", "noise_mb"):
        assert positive_finite(rows, column), column


def test_memory_theory_counts_low_rank_factors_not_matrices():
    def noise(algo, hidden):
        es = workloads.make_es(algo, "CartPole-v1", hidden, 2, 4)
        return memory.noise_floats(es, workloads.state_shapes(es).params)

    # 4 inputs, 2 actions, depth 2: matrices 4x8, 8x8, 8x2 (+ biases 8, 8, 2), rank 1, 4 members
    assert noise("eggroll", 8) == 4 * ((4 + 8) + (8 + 8) + (8 + 2) + 18)
    assert noise("openes", 8) == 4 * (4 * 8 + 8 * 8 + 8 * 2 + 18)
    # quadrupling the width: EGGROLL's noise grows ~linearly, OpenES's ~quadratically
    assert noise("eggroll", 32) / noise("eggroll", 8) < 5 < noise("openes", 32) / noise("openes", 8)


def test_inference_and_unperturbed_eggroll_step_and_count_identically():
    """σ → 0: every member acts with the mean parameters, so the population rollout must step the
    same transitions as pure inference, and every workload counts the same env steps."""
    pop, horizon = 4, 3
    es = workloads.make_es("eggroll", "CartPole-v1", 8, 2, pop, horizon=horizon, sigma=1e-12)
    state = workloads.init_state(es)
    key = jax.random.PRNGKey(7)
    (inf_eps, inf_steps) = jax.jit(workloads.inference_rollout(es))(state, key)
    (pop_eps, pop_steps) = jax.jit(workloads.population_rollout(es))(state, key)
    (_, metrics), gen_steps = jax.jit(workloads.full_generation(es))(state, key)
    assert int(inf_steps) == int(pop_steps) == int(gen_steps) == int(metrics["env_steps"]) == pop * horizon
    np.testing.assert_array_equal(inf_eps.lengths, pop_eps.lengths)
    np.testing.assert_array_equal(inf_eps.returns, pop_eps.returns)
    np.testing.assert_allclose(inf_eps.moments.total, pop_eps.moments.total, rtol=1e-6)


def test_population_step_matches_population_act():
    es = workloads.make_es("eggroll", "CartPole-v1", 8, 2, 6, rank=2, deterministic_policy=True)
    state = workloads.init_state(es)
    sigma = es.sigma(state.generation)
    noise = es.noise.sample(state.noise_key, state.generation, state.params)
    variables, _ = es.noise.member_variables(state.params, noise, sigma)
    obs = jax.random.normal(jax.random.PRNGKey(3), (es.batch,) + es.spec.obs_shape)
    key = jax.random.PRNGKey(4)
    step, _ = workloads.population_step(es, state)
    act = jax.jit(lambda obs, key: es.population_act(state, noise, sigma)(obs, key))
    np.testing.assert_array_equal(jax.jit(step)(variables, obs, key), act(obs, key))


@pytest.mark.parametrize("variants", ["inference,es-generation", "es-live", "ppo-update"])
def test_ceiling_compares_our_loops_with_the_bare_one(variants, tmp_path):
    """Quick mode (CartPole-v1, 8 members x width 8, T = 8), split so each test compiles few programs."""
    assert ceiling.main(["--quick", "--repeats", "1", "--variants", variants, "--out", str(tmp_path)]) == 0
    columns, rows = read(tmp_path / "ceiling.csv")
    assert columns == ceiling.COLUMNS + STAMP
    assert all(r["status"] == "ok" for r in rows), [r["status"] for r in rows]
    wanted = set(variants.split(","))
    assert {r["variant"] for r in rows} == wanted | {"bare"}
    for column in ("steps_per_s", "stepped_per_s", "x_bare", "x_bare_stepped", "compile_s", "x_bare_compile"):
        assert positive_finite(rows, column), column
    for group in {r["group"] for r in rows}:
        members = [r for r in rows if r["group"] == group]
        bare = next(r for r in members if r["variant"] == "bare")
        assert float(bare["x_bare"]) == 1.0
        for r in members:
            if r["variant"] in ("inference", "es-generation", "ppo-update"):  # the same batch x T transitions
                assert int(r["env_steps"]) == int(r["stepped_steps"]) == int(bare["env_steps"]), r["variant"]
            if r["variant"] == "es-live":  # live steps <= what the while loop computed = batch x longest episode
                assert 0 < int(r["env_steps"]) <= int(r["stepped_steps"])
                assert int(r["stepped_steps"]) % int(r["batch"]) == 0


def test_ceiling_refuses_bad_variants_and_tasks(tmp_path, capsys):
    assert ceiling.main(["--variants", "turbo", "--out", str(tmp_path)]) == 2
    assert "unknown variant 'turbo'" in capsys.readouterr().err
    assert ceiling.main(["--envs", "MPE_simple_spread_v3", "--out", str(tmp_path)]) == 2
    assert "supports gymnax, brax" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "ceiling", "--sizes", "64by64"])
    assert not list(tmp_path.glob("*.csv"))


def test_paper_throughput_writes_fractions_and_the_figure(tmp_path):
    argv = ["--quick", "--width", "32", "--pop", "8", "--repeats", "1", "--out", str(tmp_path)]
    assert build_parser().parse_args(["bench", "paper-throughput"] + argv).bench == "paper-throughput"
    assert paper_throughput.main(argv) == 0
    columns, rows = read(tmp_path / "paper_throughput.csv")
    assert columns == paper_throughput.COLUMNS + STAMP
    assert [r["variant"] for r in rows] == list(paper_throughput.VARIANTS)
    assert all(r["status"] == "ok" for r in rows) and {r["dtype"] for r in rows} == {"float32"}
    for column in ("tokens_per_s", "fraction", "compile_s"):
        assert positive_finite(rows, column), column
    assert {r["variant"]: float(r["paper_fraction"]) for r in rows if r["variant"] != "inference"} == \
        paper_throughput.PAPER
    for figure in ("paper_throughput.png", "paper_throughput.pdf"):
        assert (tmp_path / figure).stat().st_size > 1000


GPU_CHECK = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


def test_gpu_check_script_parses_and_refuses_to_run_without_a_gpu(tmp_path):
    import subprocess
    import sys

    assert subprocess.run(["bash", "-n", str(GPU_CHECK)]).returncode == 0
    bad = subprocess.run(["bash", str(GPU_CHECK), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown option '--bogus'" in bad.stderr
    if jax.default_backend() == "gpu":
        pytest.skip("a GPU is visible: the script would run its full 9-minute check")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "PYTHON": sys.executable}
    result = subprocess.run(["bash", str(GPU_CHECK), "--out-root", str(tmp_path)], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 3 and "no GPU visible" in result.stderr and "--allow-cpu" in result.stderr
    assert not any(tmp_path.iterdir())  # nothing written before the check


def test_vs_evosax_runs_both_on_the_same_work(tmp_path):
    """Tiny sizes: every contender's row is written, and evosax and ours stepped exactly the same
    transitions per generation (fixed horizon: pop × T), and each trial spent its budget."""
    pytest.importorskip("evosax", reason="optional benchmark extra: pip install -e '.[bench]'")
    from eggroll_bench.benchmarks import vs_evosax

    argv = ["--pops", "4", "--widths", "8", "--horizon", "3", "--repeats", "1", "--trial-sizes", "4x8",
            "--trial-steps", "300", "--trial-repeats", "1", "--compile-here", "--out", str(tmp_path)]
    assert vs_evosax.main(argv) == 0
    columns, rows = read(tmp_path / "vs_evosax.csv")
    assert columns == vs_evosax.COLUMNS + STAMP
    assert {(r["kind"], r["contender"]) for r in rows} == \
        {(kind, name) for kind, names in vs_evosax.CONTENDERS.items() for name in names}
    assert all(r["status"] == "ok" for r in rows)
    assert positive_finite(rows, "gens_per_s") and positive_finite(rows, "compile_s")
    generation = [r for r in rows if r["kind"] == "generation"]
    assert {int(r["env_steps_per_gen"]) for r in generation} == {4 * 3}  # same work, counted in the call
    for r in (r for r in rows if r["kind"] == "trial"):
        assert int(r["env_steps"]) >= 300 and int(r["generations"]) >= 1
        assert int(r["computed"]) == int(r["generations"])  # no generation computed past the budget
    assert [float(r["x_evosax"]) for r in rows if r["contender"] == "evosax"] == [1.0, 1.0]
    # what the committed CSV's compile seconds come from: one compile in a process of its own
    assert vs_evosax.fresh_compile_s("generation", "evosax", 4, 8, 2, 3, 0) > 0


def test_vs_evosax_without_evosax_names_the_extra(tmp_path, capsys, monkeypatch):
    import sys
    from eggroll_bench.benchmarks import vs_evosax

    monkeypatch.setitem(sys.modules, "evosax", None)  # what an install without the extra sees
    monkeypatch.setitem(sys.modules, "evosax.algorithms", None)
    assert vs_evosax.main(["--quick", "--out", str(tmp_path)]) == 2
    assert 'pip install -e ".[bench]"' in capsys.readouterr().err
    assert not list(tmp_path.glob("*.csv"))


def test_grouped_speed_ups_compare_run_seconds_per_configuration():
    from eggroll_bench.benchmarks.grouped import speed_ups

    rows = [{"algo": "eggroll", "variant": "one at a time", "configs": 4, "run_s": 8.0},
            {"algo": "eggroll", "variant": "grouped", "configs": 4, "run_s": 12.0},
            {"algo": "openes", "variant": "one at a time", "configs": 4, "run_s": 20.0},
            {"algo": "openes", "variant": "grouped", "configs": 4, "run_s": 30.0},
            {"algo": "ppo", "variant": "grouped", "configs": 4, "run_s": 1.0}]
    got = {(r["eggroll"], r["openes"]): (r["eggroll_run_s"], r["openes_run_s"], r["speed_up"]) for r in speed_ups(rows)}
    assert got == {("one at a time", "one at a time"): (2.0, 5.0, 2.5), ("grouped", "grouped"): (3.0, 7.5, 2.5),
                   ("grouped", "one at a time"): (3.0, 5.0, 5 / 3)}
    assert speed_ups(rows[:2] + rows[4:]) == []  # no OpenES measured: no speed-up


def test_vs_purejaxrl_without_a_checkout_says_how_to_get_one(tmp_path, capsys):
    from eggroll_bench.benchmarks import vs_purejaxrl

    (tmp_path / "clone" / "purejaxrl").mkdir(parents=True)
    (tmp_path / "clone" / "purejaxrl" / "ppo.py").write_text("")  # wrappers.py missing
    for where in (tmp_path / "nowhere", tmp_path / "clone"):
        assert vs_purejaxrl.main(["--quick", "--purejaxrl", str(where), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert f"--purejaxrl {where}" in err and "git clone https://github.com/luchris429/purejaxrl" in err
    assert "purejaxrl/wrappers.py" in err and "purejaxrl/ppo.py" not in err.split("there;")[0]
    assert not list((tmp_path / "out").glob("*.csv"))


def test_vs_purejaxrl_without_distrax_names_the_extra(tmp_path, capsys, monkeypatch):
    import sys
    from eggroll_bench.benchmarks import vs_purejaxrl

    (tmp_path / "purejaxrl").mkdir()
    for name in ("ppo.py", "wrappers.py"):
        (tmp_path / "purejaxrl" / name).write_text("")
    monkeypatch.setitem(sys.modules, "distrax", None)  # what an install without the extra sees
    assert vs_purejaxrl.main(["--quick", "--purejaxrl", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert 'pip install -e ".[bench]"' in capsys.readouterr().err


def test_vs_purejaxrl_hands_their_wrappers_the_older_gymnax_step():
    """gymnax >= 1.0 returns (obs, state, reward, terminated, truncated, info); PureJaxRL's wrappers
    unpack (obs, state, reward, done, info) with done = the episode ended either way."""
    import gymnax
    from eggroll_bench.benchmarks.vs_purejaxrl import OldGymnaxStep

    env, params = gymnax.make("CartPole-v1")
    old = OldGymnaxStep(env)
    assert old.num_actions == env.num_actions and old.action_space(params).n == 2
    _, state = old.reset(jax.random.PRNGKey(0), params)
    state = state.replace(time=params.max_steps_in_episode - 1)  # the next step truncates
    for action in (0, 1):
        key = jax.random.PRNGKey(action)
        new = env.step(key, state, action, params)
        got = old.step(key, state, action, params)
        assert len(new) == 6 and len(got) == 5
        assert bool(got[3]) == bool(new[3] | new[4]) and bool(new[4])  # truncated counts as done
        np.testing.assert_array_equal(got[0], new[0])
        assert float(got[2]) == float(new[2])


def test_vs_purejaxrl_expresses_the_validate_row_in_both_configurations():
    """Theirs: the row's PureJaxRL settings at the row's environments; ours: the row's hyperparameters,
    resolvable by the runner, with the CLI's evaluation defaults (no eval_ override)."""
    from eggroll_bench.algos import runner
    from eggroll_bench.benchmarks.vs_purejaxrl import configurations

    task, theirs, ours = configurations(16, 100_000)
    assert task == "CartPole-v1"
    assert (theirs["NUM_ENVS"], theirs["NUM_STEPS"], theirs["TOTAL_TIMESTEPS"], theirs["LR"]) == (16, 128, 100_000, 2.5e-4)
    assert theirs["ENV_NAME"] == task and theirs["DEBUG"] is False and "network" not in theirs
    assert ours["num_envs"] == 16 and not any(k.startswith("eval_") for k in ours)
    config = runner.resolve_group("ppo", task, [ours], 100_000)[0][0]
    assert (config.num_steps, config.lr, config.hidden, config.depth) == (128, 2.5e-4, 64, 2)


def test_bench_all_skips_vs_purejaxrl_naming_what_it_needs(tmp_path, capsys, monkeypatch):
    import argparse
    import importlib.util
    from eggroll_bench.benchmarks import commands, options

    monkeypatch.setattr(options, "NAMES", ("vs-purejaxrl",))
    args = argparse.Namespace(out=str(tmp_path), quick=True, append=False, repeats=None)
    assert commands.run_all(args) == 0
    printed = capsys.readouterr().out
    needs = "--purejaxrl DIR" if importlib.util.find_spec("distrax") else 'pip install -e ".[bench]"'
    assert "=== bench vs-purejaxrl ===" in printed and "skipped: needs" in printed and needs in printed
    assert not list(tmp_path.iterdir())


def test_vs_purejaxrl_runs_theirs_and_ours_on_the_same_budget(tmp_path):
    """With a PureJaxRL checkout named in $EGGROLL_BENCH_PUREJAXRL (and distrax): every contender's
    row is written, each trained the budget, and PureJaxRL is the ratios' unit."""
    import os
    from eggroll_bench.benchmarks import vs_purejaxrl

    where = os.environ.get("EGGROLL_BENCH_PUREJAXRL")
    if not where:
        pytest.skip(f"needs a PureJaxRL checkout in $EGGROLL_BENCH_PUREJAXRL ({vs_purejaxrl.CLONE})")
    pytest.importorskip("distrax", reason="optional benchmark extra: pip install -e '.[bench]'")
    assert vs_purejaxrl.main(["--quick", "--purejaxrl", where, "--out", str(tmp_path)]) == 0
    columns, rows = read(tmp_path / "vs_purejaxrl.csv")
    assert columns == vs_purejaxrl.COLUMNS + STAMP and [r["contender"] for r in rows] == list(vs_purejaxrl.CONTENDERS)
    assert all(r["status"] == "ok" for r in rows)
    assert positive_finite(rows, "steps_per_s") and positive_finite(rows, "compile_s")
    budget = vs_purejaxrl.QUICK_STEPS
    # theirs: whole updates of 4 x 128 steps within the budget; ours: updates until the budget is spent
    assert all(budget - 512 < int(r["env_steps"]) < budget + 512 for r in rows)
    assert [float(r["x_purejaxrl"]) for r in rows][0] == 1.0
    assert [int(r["evaluations"]) for r in rows][0] == 0 and int(rows[2]["evaluations"]) == 2


def test_csv_rows_say_where_when_and_with_what_they_were_measured(tmp_path):
    """New rows carry the machine, jax, the code's version and the time; with --append, rows kept
    from an older run keep theirs (empty where that run predates the columns)."""
    from eggroll_bench.provenance import code_version

    path = tmp_path / "t.csv"
    path.write_text("name,value\nold,1\nredo,2\n")  # written before the provenance columns existed
    common.write_csv([{"name": "redo", "value": 3}, {"name": "new", "value": 4}], path, ["name", "value"], ["name"])
    columns, rows = read(path)
    assert columns == ["name", "value"] + STAMP
    by_name = {r["name"]: r for r in rows}
    assert by_name["old"]["value"] == "1" and all(by_name["old"][c] == "" for c in STAMP)
    for name, value in (("redo", "3"), ("new", "4")):
        row = by_name[name]
        assert row["value"] == value and row["machine"] == common.machine() and row["jax"] == jax.__version__
        assert row["code_version"] == code_version() and row["measured"].endswith("Z")


def test_determinism_finds_the_same_bits_in_fresh_processes_on_the_cpu(tmp_path, capsys):
    # The CPU half of the GPU question: two runs of one trial, each in its own process with the
    # compile cache off, give the same evaluation returns bit for bit (the GPU flags change nothing here).
    argv = ["--algo", "eggroll", "--steps", "2000", "--variants", "default", "--set", "pop_size=8", "hidden=8",
            "--out", str(tmp_path)]
    assert determinism.main(argv) == 0
    columns, rows = read(tmp_path / "determinism.csv")
    assert columns == determinism.COLUMNS + STAMP
    assert [r["run"] for r in rows] == ["0", "1"] and all(r["status"] == "ok" for r in rows)
    assert rows[0]["digest"] == rows[1]["digest"] and rows[1]["same_as_first"] == "True"
    printed = capsys.readouterr().out
    assert "default: bit-identical over 2 runs" in printed and "nothing to fix" in printed


def test_determinism_digest_sees_one_changed_bit():
    row = {"row_type": "eval", "seed": "0", "env_steps": "100", "return_mean": "21.5", "return_std": "3.25"}
    assert determinism.digest([row]) != determinism.digest([{**row, "return_mean": "21.500000000000004"}])
    assert determinism.digest([row, {**row, "seed": "1"}]) == determinism.digest([{**row, "seed": "1"}, row])


def test_determinism_names_the_cause_the_variants_point_to():
    assert "kernel choice" in determinism.diagnosis({"default": False, "deterministic": True, "no-autotune": True})
    reductions = determinism.diagnosis({"default": False, "deterministic": True, "no-autotune": False})
    assert "unordered reductions" in reductions and "deterministic_ops" in reductions
    assert "nothing to fix" in determinism.diagnosis({"default": True, "deterministic": True, "no-autotune": True})
    assert determinism.diagnosis({"default": False}) == ""  # one variant alone cannot tell the causes apart


def test_determinism_takes_settings_after_one_set_or_one_per_set():
    from eggroll_bench.benchmarks import options

    args = options.parser("determinism").parse_args(["--set", "lr=0.1", "--set", "hidden=8", "pop_size=8"])
    assert args.set == ["lr=0.1", "hidden=8", "pop_size=8"]


def test_determinism_refuses_an_unknown_task_before_any_run(tmp_path, capsys):
    assert determinism.main(["--env", "CartPol-v1", "--steps", "100", "--out", str(tmp_path)]) == 2
    assert "CartPol-v1" in capsys.readouterr().err and not (tmp_path / "determinism.csv").exists()


def test_determinism_refuses_a_bad_setting_before_training_twice(tmp_path, capsys):
    assert determinism.main(["--set", "pop_size=odd", "--variants", "default", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "pop_size" in err and not (tmp_path / "determinism.csv").exists()
