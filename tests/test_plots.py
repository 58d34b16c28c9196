"""Figures and summary table from a small synthetic results set, and bad-input messages."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eggroll_bench.cli.plot import add_parser
from eggroll_bench.plots.load import ResultsError, describe_gaps, load_results
from eggroll_bench.plots.render import Rendered, render
from eggroll_bench.sweeps.schema import COLUMNS, SCHEMA_VERSION

# task -> (num_agents, random_return, algos, final return per algo)
TASKS = {
    "CartPole-v1": (1, 20.0, ("eggroll", "openes", "ppo"), {"eggroll": 420.0, "openes": 380.0, "ppo": 500.0}),
    "Pendulum-v1": (1, -1200.0, ("eggroll", "openes", "ppo"),
                    {"eggroll": -400.0, "openes": -600.0, "ppo": -200.0}),
    "Freeway-MinAtar": (1, 0.0, ("eggroll", "openes"), {"eggroll": 30.0, "openes": 25.0}),
    "MPE_simple_spread_v3": (3, -150.0, ("eggroll", "openes", "ppo"),
                             {"eggroll": -60.0, "openes": -70.0, "ppo": -50.0}),
}
BUDGET = 100_000
SEED_OFFSETS = (-10.0, 0.0, 10.0)  # final return of seed s = task final + offset
RUN_S = {"eggroll": 30.0, "openes": 90.0, "ppo": 50.0}
COMPILE_S = {"eggroll": 4.0, "openes": 6.0, "ppo": 8.0}


def _row(**kw) -> dict:
    row = {c: "" for c in COLUMNS}
    row.update(schema_version=SCHEMA_VERSION, sweep="synthetic", suite="core16", budget=BUDGET,
               versions=json.dumps({"jax": "0.10.2"}), device="cpu (2 cores)", timestamp="2025-01-01T00:00:00Z")
    row.update(kw)
    return row


def _trial(algo, env, agents, rnd, final, hp, seeds=(0, 1, 2), run_s=None, evals=True, tid=None):
    """Eval rows rising linearly to `final + offset`, and one final row per seed."""
    rows = []
    tid = tid or f"{algo}-{env}-{hp.get('pop_size', 0)}-{hp.get('hidden', 0)}"
    run_s = RUN_S[algo] if run_s is None else run_s
    start = rnd
    rng = np.random.default_rng(len(env) + seeds[0])
    for seed in seeds:
        end = final + SEED_OFFSETS[seed % 3]
        # ES seeds evaluate at different env steps (jittered); PPO on a fixed schedule
        steps = np.linspace(0, BUDGET, 11)
        if algo != "ppo":
            steps[1:-1] += rng.uniform(-3000, 3000, size=9)
        common = dict(trial_id=tid, algo=algo, env=env, num_agents=agents, seed=seed, random_return=rnd,
                      hparams=json.dumps(hp))
        if evals:
            for i, st in enumerate(steps):
                rows.append(_row(row_type="eval", env_steps=int(st), updates=i * 10,
                                 return_mean=start + (end - start) * st / BUDGET, return_std=1.0,
                                 wall_s=run_s * st / BUDGET, **common))
        rows.append(_row(row_type="final", env_steps=BUDGET, updates=100, return_mean=end, return_std=1.0,
                         compile_s=COMPILE_S[algo], run_s=run_s, steps_per_s=BUDGET / run_s, status="done",
                         **common))
    return rows


def synthetic_results() -> pd.DataFrame:
    rows = []
    for env, (agents, rnd, algos, finals) in TASKS.items():
        for algo in algos:
            hp = {"hidden": 64, "depth": 2, "episodes_per_member": 1}
            if algo != "ppo":
                hp["pop_size"] = 64
            rows += _trial(algo, env, agents, rnd, finals[algo], hp)
    # scaling rows: final rows only, low returns (never the trial the per-task figures show)
    for algo, scale in (("eggroll", 1.0), ("openes", 0.25)):
        for pop in (64, 256, 1024):
            for hidden in (64, 256):
                if (pop, hidden) == (64, 64):
                    continue
                # throughput grows with the population and falls with the width
                run_s = 40.0 * (64 / pop) ** 0.7 * (hidden / 64) ** 0.5 / scale
                rows += _trial(algo, "CartPole-v1", 1, 20.0, 30.0,
                               {"pop_size": pop, "hidden": hidden, "depth": 2, "episodes_per_member": 1},
                               seeds=(0,), run_s=run_s, evals=False)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def write(df: pd.DataFrame, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    df.to_csv(directory / "results.csv", index=False)
    return directory


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    d = write(synthetic_results(), tmp_path_factory.mktemp("sweep"))
    pd.DataFrame({"hidden": [64, 64, 64, 256, 256, 256], "pop_size": [64, 256, 1024] * 2,
                  "steps_per_s": [1e7, 3e7, 8e7, 4e6, 1e7, 2e7]}).to_csv(d / "inference.csv", index=False)
    return d, render(d, style_name="paper")


FIGURES = ("curves_env_steps", "curves_wall_clock", "normalised_scores", "paper_normalised_curve",
           "paper_normalised_scores", "training_time", "throughput_scaling", "multiagent_curves_env_steps",
           "multiagent_curves_wall_clock", "multiagent_time")


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_renders_png_and_pdf(rendered, name):
    d, result = rendered
    paths = result.outputs[name]
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    for p in paths:
        assert p.parent == d / "figures" and p.stat().st_size > 5000
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"


def test_render_reports_gaps(rendered):
    _, result = rendered
    assert result.errors == {}
    assert any(n.startswith("no PPO reference: Freeway-MinAtar") for n in result.notes)
    # CartPole ran 6 ES configurations; the note names the selection rule
    assert any("CartPole-v1: eggroll has 6 configurations" in n for n in result.notes)


def test_summary_table_values(rendered):
    d, result = rendered
    assert [p.name for p in result.outputs["summary"]] == ["summary.csv", "summary.md"]
    s = pd.read_csv(d / "figures" / "summary.csv", keep_default_na=False, na_values=[""])
    assert len(s) == 11  # 3 + 3 + 2 + 3 algo × task rows; scaling trials are not extra rows
    r = s.set_index(["algo", "env"])
    # CartPole eggroll: seeds 410, 420, 430 -> mean 420, std 10; score (420-20)/(500-20)
    row = r.loc[("eggroll", "CartPole-v1")]
    assert row["return_mean"] == pytest.approx(420.0) and row["return_std"] == pytest.approx(10.0)
    assert row["normalised_score"] == pytest.approx(400 / 480)
    assert (row["seeds"], row["run_s"], row["compile_s"]) == (3, 30.0, 4.0)
    assert row["steps_per_s"] == pytest.approx(3 * BUDGET / 30.0)  # 3 seeds' steps in one call
    assert row["statuses"] == "done: 3" and row["configs"] == 6
    # Pendulum openes: (-600 + 1200) / (-200 + 1200) = 0.6
    assert r.loc[("openes", "Pendulum-v1"), "normalised_score"] == pytest.approx(0.6)
    assert r.loc[("ppo", "Pendulum-v1"), "normalised_score"] == pytest.approx(1.0)
    assert np.isnan(r.loc[("eggroll", "Freeway-MinAtar"), "normalised_score"])
    assert r.loc[("eggroll", "Freeway-MinAtar"), "score_note"] == "no PPO reference"
    # multi-agent: (-60 + 150) / (-50 + 150) = 0.9
    assert r.loc[("eggroll", "MPE_simple_spread_v3"), "normalised_score"] == pytest.approx(0.9)
    assert r.loc[("eggroll", "MPE_simple_spread_v3"), "num_agents"] == 3
    md = (d / "figures" / "summary.md").read_text()
    assert "| eggroll | CartPole-v1 | 1 | 3 | 420 ± 10 | 0.833 |" in md
    assert "– (no PPO reference)" in md


def test_paper_style_scores_are_ratios_to_ppo_with_sem(rendered):
    """R / R_PPO per seed, mean ± SEM over seeds per task, and over tasks sqrt(Σ SEM²) / T; tasks
    with R_PPO <= 0 (Pendulum) or no PPO (Freeway) are left out, and multi-agent tasks are not scored."""
    from eggroll_bench.plots.load import load_results
    from eggroll_bench.plots.stats import ALL_TASKS, paper_score_table, ppo_ratios
    from eggroll_bench.plots.tidy import build_tables

    d, _ = rendered
    finals = build_tables(load_results(d)).selected_finals
    ratios, undefined = ppo_ratios(finals[finals["num_agents"] <= 1])
    assert undefined == {"Freeway-MinAtar": "no PPO reference", "Pendulum-v1": "R_PPO = -200 <= 0"}
    t = paper_score_table(ratios).set_index(["algo", "env"])
    # CartPole eggroll: seeds 410, 420, 430 over R_PPO = 500 (PPO seeds 490, 500, 510)
    assert t.loc[("eggroll", "CartPole-v1"), "mean"] == pytest.approx(420 / 500)
    assert t.loc[("eggroll", "CartPole-v1"), "sem"] == pytest.approx(10 / 500 / np.sqrt(3))
    assert t.loc[("ppo", "CartPole-v1"), "mean"] == pytest.approx(1.0)
    # one task left: the mean over tasks is that task's, with its SEM
    assert t.loc[("openes", ALL_TASKS), "mean"] == pytest.approx(380 / 500)
    assert t.loc[("openes", ALL_TASKS), "n"] == 1
    two = pd.concat([ratios, ratios.assign(env="Other", ratio=ratios["ratio"] * 2)])
    agg = paper_score_table(two).set_index(["algo", "env"]).loc[("eggroll", ALL_TASKS)]
    assert agg["mean"] == pytest.approx(1.5 * 420 / 500) and agg["n"] == 2
    assert agg["sem"] == pytest.approx(np.sqrt(1 + 4) * 10 / 500 / np.sqrt(3) / 2)


def test_paper_style_draws_every_robust_figure_too(tmp_path):
    """`eggroll-bench paper --suite paper16` renders once in the paper style to get both styles."""
    from eggroll_bench.plots.render import _builders
    from eggroll_bench.plots.tidy import build_tables

    tables = build_tables(load_results(write(synthetic_results(), tmp_path)))
    robust = [name for name, _ in _builders(tables, "robust", None, tmp_path)]
    paper = [name for name, _ in _builders(tables, "paper", None, tmp_path)]
    assert set(robust) < set(paper) and all(name.startswith("paper_") for name in set(paper) - set(robust))


def test_final_return_is_last_eval_by_env_steps_else_final_row(tmp_path):
    rows = _trial("ppo", "CartPole-v1", 1, 20.0, 100.0, {"hidden": 64}, seeds=(1,))
    rows = rows[::-1]  # file order must not matter: the largest env_steps is the last evaluation
    rows += _trial("eggroll", "CartPole-v1", 1, 20.0, 70.0, {"hidden": 64, "pop_size": 8}, seeds=(1,), evals=False)
    from eggroll_bench.plots.tidy import build_tables
    t = build_tables(load_results(write(pd.DataFrame(rows, columns=list(COLUMNS)), tmp_path)))
    f = t.finals.set_index("algo")["final_return"]
    assert f["ppo"] == 100.0 and f["eggroll"] == 70.0


def test_throughput_skipped_without_scaling_and_reason_printed(tmp_path, capsys):
    df = synthetic_results()
    df = df[df["env"] != "MPE_simple_spread_v3"]
    df = df[~df["hparams"].str.contains('"hidden": 256') & ~df["hparams"].str.contains('"pop_size": 256')
            & ~df["hparams"].str.contains('"pop_size": 1024')]
    d = write(df, tmp_path / "sweep")
    args = _parse(["plot", str(d), "--out", str(tmp_path / "figs")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "skipped throughput_scaling: the results vary neither pop_size nor hidden" in out
    assert "skipped multiagent_time: no multi-agent results" in out
    assert "wrote normalised_scores:" in out and "note: no PPO reference: Freeway-MinAtar" in out
    assert (tmp_path / "figs" / "training_time.pdf").is_file()
    assert not (tmp_path / "figs" / "paper_normalised_curve.png").exists()  # only with --style paper


def _parse(argv):
    import argparse

    parser = argparse.ArgumentParser(prog="eggroll-bench")
    add_parser(parser.add_subparsers())
    return parser.parse_args(argv)


def test_empty_directory_exits_2_with_clear_message(tmp_path, capsys):
    args = _parse(["plot", str(tmp_path)])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert f"no results in {tmp_path}" in err and "results.csv" in err and "Traceback" not in err


def test_parent_directory_hint_and_header_only_file(tmp_path):
    write(synthetic_results().head(0), tmp_path / "sweepA")
    with pytest.raises(ResultsError, match="header but no rows"):
        load_results(tmp_path / "sweepA")
    with pytest.raises(ResultsError, match="Sweeps found below it: sweepA"):
        load_results(tmp_path)


def test_older_schema_names_missing_columns(tmp_path):
    df = synthetic_results().drop(columns=["random_return", "steps_per_s"])
    with pytest.raises(ResultsError) as err:
        load_results(write(df, tmp_path))
    msg = str(err.value)
    assert "missing columns: steps_per_s, random_return" in msg and "older or different results schema" in msg
    df = synthetic_results().drop(columns=["schema_version"])
    with pytest.raises(ResultsError, match="no schema_version column.*missing columns: schema_version"):
        load_results(write(df, tmp_path))


def test_unknown_schema_version(tmp_path):
    df = synthetic_results()
    df["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(ResultsError, match=f"schema_version {SCHEMA_VERSION + 1}.*upgrade eggroll-bench"):
        load_results(write(df, tmp_path))


def test_describe_gaps_lists_missing_algorithms_and_references():
    df = synthetic_results()
    df.loc[df["env"] == "Pendulum-v1", "random_return"] = np.nan
    notes = describe_gaps(df[df["algo"] != "openes"].astype({"random_return": float}))
    assert "no PPO reference: Freeway-MinAtar (its normalised scores are not defined)" in notes
    assert any(n.startswith("no random-policy return: Pendulum-v1") for n in notes)
    assert not any("openes" in n for n in notes)  # an algorithm absent everywhere is no per-task gap


def test_degenerate_results_skip_cleanly(tmp_path):
    """Final rows only, a failed seed, no random returns, no scaling, no multi-agent: every figure
    is either drawn or skipped with a reason; nothing crashes."""
    rows = []
    for algo in ("eggroll", "openes", "ppo"):
        rows += _trial(algo, "CartPole-v1", 1, np.nan, 100.0, {"hidden": 64, "pop_size": 64}, evals=False)
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    failed = (df["algo"] == "openes") & (df["seed"] == 2)
    df.loc[failed, ["status", "error", "return_mean", "run_s"]] = ["failed", "XlaRuntimeError: OOM", np.nan, np.nan]
    result = render(write(df, tmp_path), tmp_path / "figs")
    assert result.errors == {}
    assert result.outputs["curves_env_steps"] == "no evaluation rows for single-agent tasks (only final rows)"
    assert result.outputs["normalised_scores"] == ("no task has a defined PPO-normalised score "
                                                   "(no random-policy return: CartPole-v1)")
    assert result.outputs["multiagent_time"] == "no multi-agent results"
    assert [p.suffix for p in result.outputs["training_time"]] == [".png", ".pdf"]
    s = pd.read_csv(tmp_path / "figs" / "summary.csv").set_index("algo")
    assert s.loc["openes", "statuses"] == "done: 2, failed: 1" and s.loc["openes", "seeds"] == 2
    assert s.loc["openes", "return_mean"] == pytest.approx(95.0)  # seeds 90 and 100; the failed one is out


def test_seed_curves_interpolated_onto_common_grid():
    from eggroll_bench.plots.tidy import curve_band, seed_matrix

    evals = pd.DataFrame({"trial_id": "t", "seed": [0, 0, 1, 1, 1], "env_steps": [0, 100, 0, 50, 120],
                          "return_mean": [0.0, 10.0, 0.0, 10.0, 10.0]})
    grid = np.array([0.0, 50.0, 100.0, 120.0])
    m = seed_matrix(evals, "env_steps", grid)
    np.testing.assert_allclose(m, [[0, 5, 10, np.nan], [0, 10, 10, 10]])  # never extrapolated
    band = curve_band(m)
    np.testing.assert_allclose(band["mean"], [0, 7.5, 10, np.nan])  # seed 0 ends at 100
    np.testing.assert_array_equal(band["n"], [2, 2, 2, 1])
    # 3 seeds, one stopping early: the mean ends where the shortest seed ends, and starts where the
    # latest one starts, so it never becomes the mean of a different set of seeds along the way
    m3 = np.array([[1.0, 1.0, 1.0, 1.0], [3.0, 3.0, 3.0, np.nan], [np.nan, 2.0, 2.0, 2.0]])
    np.testing.assert_allclose(curve_band(m3)["mean"], [np.nan, 2.0, 2.0, np.nan])


def test_timing_pairs_compare_matching_settings():
    from eggroll_bench.plots.figures_systems import timing_pairs

    def t(tid, algo, env, pop, selected):
        return {"trial_id": tid, "algo": algo, "env": env, "budget": 1000, "pop_size": pop, "hidden": 64,
                "depth": 2, "episodes_per_member": 1, "selected": selected}
    trials = pd.DataFrame([
        t("e64", "eggroll", "A", 64, True), t("o64", "openes", "A", 64, False), t("o256", "openes", "A", 256, True),
        t("e8", "eggroll", "B", 8, True), t("o16", "openes", "B", 16, True),
        t("e1", "eggroll", "C", 8, True),
    ])
    pairs = timing_pairs(trials).set_index("env")
    assert tuple(pairs.loc["A", ["eggroll", "openes", "matched"]]) == ("e64", "o64", True)
    assert tuple(pairs.loc["B", ["eggroll", "openes", "matched"]]) == ("e8", "o16", False)
    assert pairs.loc["C", "eggroll"] == "e1" and pd.isna(pairs.loc["C", "openes"])


def test_a_speed_up_of_trials_with_different_settings_says_so():
    """The figure, the report page and the verdict table state a speed-up with one text, which
    marks a pair of trials whose settings differ (each algorithm's own best configuration)."""
    from eggroll_bench.plots.figures_systems import SpeedUp, geometric_mean

    assert SpeedUp(2.0, True).text == "EGGROLL 2.0× faster"
    assert SpeedUp(0.5, True).text == "EGGROLL 2.0× slower"
    assert SpeedUp(5.6, False).text == "EGGROLL 5.6× faster (settings differ)"
    assert geometric_mean({"A": SpeedUp(2.0, True), "B": SpeedUp(8.0, False)}) == pytest.approx(4.0)


def test_inference_ceiling_absent_or_incomplete(tmp_path):
    from eggroll_bench.plots.figures_systems import load_inference

    df, why = load_inference(tmp_path / "inference.csv")
    assert df is None and why.startswith("pure-inference ceiling not measured")
    pd.DataFrame({"hidden": [64], "steps_per_s": [1e6]}).to_csv(tmp_path / "inference.csv", index=False)
    df, why = load_inference(tmp_path / "inference.csv")
    assert df is None and "lacks columns pop_size" in why


def _seed_rows(algo, env, budget, seed, steps, returns):
    ev = [dict(trial_id=f"{algo}-{env}", algo=algo, env=env, seed=seed, budget=budget, env_steps=s, return_mean=r)
          for s, r in zip(steps, returns)]
    final = dict(trial_id=f"{algo}-{env}", algo=algo, env=env, seed=seed, budget=budget, final_return=returns[-1])
    return ev, final


def test_paper_curves_end_at_one_for_ppo_when_the_last_update_overshoots_the_budget():
    """Budgets differ, and PPO's only evaluation on task B lands past its budget (one update of a
    big batch): the curves still line up at progress 1, where PPO is exactly 1 and EGGROLL is the
    mean over tasks of its final R / R_PPO."""
    from eggroll_bench.plots.figures import paper_curves

    seeds = {  # (algo, env, budget): per seed (eval steps, returns)
        ("ppo", "A", 1000): [([500, 1000], [5.0, 10.0]), ([500, 1000], [6.0, 12.0])],
        ("ppo", "B", 5000): [([6400], [4.0]), ([6400], [6.0])],
        ("eggroll", "A", 1000): [([300, 700, 1100], [1.0, 2.0, 8.0]), ([400, 800, 1000], [1.0, 2.0, 14.0])],
        # a trial of another budget on the same task: each seed's progress uses its own trial's budget
        ("eggroll", "B", 8000): [([3000, 6000, 8320], [1.0, 2.0, 10.0]), ([4000, 8000], [1.0, 5.0])],
    }
    evals, finals = [], []
    for (algo, env, budget), runs in seeds.items():
        for seed, (steps, returns) in enumerate(runs):
            ev, final = _seed_rows(algo, env, budget, seed, steps, returns)
            evals += ev
            finals.append(final)
    curves = paper_curves(pd.DataFrame(finals), pd.DataFrame(evals))
    assert curves.x == "progress" and curves.grid[-1] == 1.0
    ppo_mean, ppo_sem, ppo_tasks = curves.lines["ppo"]
    assert ppo_tasks == ["A", "B"] and ppo_mean[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.isnan(ppo_mean[:-1]).all()  # task B has no PPO evaluation before the end
    egg_mean = curves.lines["eggroll"][0]
    expected = np.mean([np.mean([8.0, 14.0]) / 11.0, np.mean([10.0, 5.0]) / 5.0])
    assert egg_mean[-1] == pytest.approx(expected, rel=1e-12)
    assert any("PPO from 1.00" in note for note in curves.notes)


# --- sweeps with several configurations per (algorithm, task) ---------------------------------

LRS = (0.001, 0.01, 0.1)
SIGMAS = (0.02, 0.05)


def sweep_results() -> pd.DataFrame:
    """ES over an lr × sigma grid on CartPole and Pendulum (final return = base + 100·log10(lr/0.001)
    + 1000·(sigma − 0.02)), and one PPO configuration per task as the reference."""
    rows = []
    for env in ("CartPole-v1", "Pendulum-v1"):
        agents, rnd, _, finals = TASKS[env]
        rows += _trial("ppo", env, agents, rnd, finals["ppo"], {"hidden": 64, "lr": 3e-4})
        for algo in ("eggroll", "openes"):
            for lr in LRS:
                for sigma in SIGMAS:
                    final = finals[algo] - 200 + 100 * np.log10(lr / 0.001) + 1000 * (sigma - 0.02)
                    hp = {"hidden": 64, "pop_size": 64, "lr": lr, "sigma": sigma, "rank": 1}
                    rows += _trial(algo, env, agents, rnd, final, hp, tid=f"{algo}-{env}-{lr}-{sigma}")
    return pd.DataFrame(rows, columns=list(COLUMNS))


def render_only(directory: Path, wanted) -> Rendered:
    """`render`'s loop over the builders whose names pass `wanted`: the curve figures are the slow
    part of a full render, and these tests do not look at them."""
    from eggroll_bench.plots import style
    from eggroll_bench.plots.render import _builders
    from eggroll_bench.plots.tidy import build_tables

    tables = build_tables(load_results(directory))
    out = directory / "figures"
    outputs = {}
    for name, build in _builders(tables, "robust", None, out):
        if wanted(name):
            made = build()
            outputs[name] = made if isinstance(made, (str, list)) else style.save(made, out, name)
    return Rendered(outputs, tables.notes)


def _sweep_outputs(name: str) -> bool:
    return name in ("summary", "sweep_table") or name.startswith("sensitivity")


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    d = write(sweep_results(), tmp_path_factory.mktemp("grid"))
    return d, render_only(d, _sweep_outputs)


def test_sweep_table_lists_every_configuration_with_its_varied_hyperparameters(swept):
    d, result = swept
    assert [p.name for p in result.outputs["sweep_table"]] == ["sweep_table.csv", "sweep_table.md"]
    t = pd.read_csv(d / "figures" / "sweep_table.csv", keep_default_na=False, na_values=[""])
    # only what varies between the trials of one (algo, task): not hidden, pop_size or rank; PPO ran once
    assert list(t.columns[:4]) == ["algo", "env", "lr", "sigma"]
    assert "hidden" not in t.columns and "rank" not in t.columns
    assert len(t) == 2 * 2 * 6 and set(t["algo"]) == {"eggroll", "openes"}
    row = t[(t["algo"] == "eggroll") & (t["env"] == "CartPole-v1") & (t["lr"] == 0.01) & (t["sigma"] == 0.05)].iloc[0]
    final = 420 - 200 + 100 + 30  # seeds at -10, 0, +10 around it
    assert row["return_mean"] == pytest.approx(final) and row["return_sem"] == pytest.approx(10 / np.sqrt(3))
    assert row["normalised_score"] == pytest.approx((final - 20) / (500 - 20))
    assert (row["seeds"], row["run_s"], row["statuses"]) == (3, 30.0, "done: 3")
    shown = t[t["selected"]].set_index(["algo", "env"])
    assert tuple(shown.loc[("eggroll", "CartPole-v1"), ["lr", "sigma"]]) == (0.1, 0.05)
    md = (d / "figures" / "sweep_table.md").read_text()
    assert "| algo | task | lr | sigma | seeds | final return (mean ± SEM) |" in md
    assert f"| eggroll | CartPole-v1 | 0.1 | 0.05 | 3 | {420 - 200 + 200 + 30:g} ± 5.8 |" in md


def test_summary_names_the_chosen_configuration(swept):
    d, _ = swept
    s = pd.read_csv(d / "figures" / "summary.csv", keep_default_na=False).set_index(["algo", "env"])
    assert s.loc[("eggroll", "CartPole-v1"), "config"] == "lr=0.1, sigma=0.05"
    assert s.loc[("ppo", "CartPole-v1"), "config"] == ""  # one configuration: nothing was chosen
    md = (d / "figures" / "summary.md").read_text()
    assert "lr=0.1, sigma=0.05 (of 6)" in md


def test_one_sensitivity_figure_per_varied_hyperparameter(swept):
    d, result = swept
    made = sorted(k for k in result.outputs if k.startswith("sensitivity"))
    assert made == ["sensitivity_lr", "sensitivity_sigma"]
    for name in made:
        assert [p.name for p in result.outputs[name]] == [f"{name}.png", f"{name}.pdf"]
    assert result.errors == {}


def test_sensitivity_points_average_tasks_and_other_hyperparameters(swept):
    from eggroll_bench.plots.sensitivity import sensitivity_points
    from eggroll_bench.plots.tidy import build_tables

    d, _ = swept
    points, notes = sensitivity_points(build_tables(load_results(d)), "lr")
    p = points[points["algo"] == "eggroll"].set_index("label")
    assert list(p.index) == ["0.001", "0.01", "0.1"] and (p["tasks"] == 2).all()

    def score(env, lr):  # mean over seeds and both sigmas
        _, rnd, _, finals = TASKS[env]
        final = finals["eggroll"] - 200 + 100 * np.log10(lr / 0.001) + 1000 * (np.mean(SIGMAS) - 0.02)
        return (final - rnd) / (finals["ppo"] - rnd)
    for lr in LRS:
        expected = np.mean([score("CartPole-v1", lr), score("Pendulum-v1", lr)])
        assert p.loc[f"{lr:g}", "point"] == pytest.approx(expected)
        assert p.loc[f"{lr:g}", "lo"] < expected < p.loc[f"{lr:g}", "hi"]


def test_sensitivity_uses_log_axis_for_wide_positive_ranges(swept):
    from eggroll_bench.plots.sensitivity import sensitivity_figure
    from eggroll_bench.plots.tidy import build_tables

    d, _ = swept
    tables = build_tables(load_results(d))
    for key, scale in (("lr", "log"), ("sigma", "linear")):  # 100x vs 2.5x
        fig = sensitivity_figure(tables, key)
        assert fig.axes[0].get_xscale() == scale
        import matplotlib.pyplot as plt
        plt.close(fig)


def test_no_sweep_table_or_sensitivity_for_one_configuration_per_pair(tmp_path):
    df = synthetic_results()
    df = df[~df["hparams"].str.contains('"hidden": 256') & ~df["hparams"].str.contains('"pop_size": 256')
            & ~df["hparams"].str.contains('"pop_size": 1024')]
    result = render_only(write(df, tmp_path), _sweep_outputs)
    assert result.outputs["sweep_table"] == "one configuration per algorithm and task (nothing to compare)"
    assert result.outputs["sensitivity"] == "no hyperparameter varies between the trials of an algorithm and task"
    assert not (tmp_path / "figures" / "sweep_table.csv").exists()
    assert "configuration (of N tried)" not in (tmp_path / "figures" / "summary.md").read_text()


# --- curves that don't mislead ------------------------------------------------------------------

def _cartpole(algos=("eggroll", "openes", "ppo")) -> pd.DataFrame:
    rows = []
    for algo in algos:
        rows += _trial(algo, "CartPole-v1", 1, 20.0, TASKS["CartPole-v1"][3][algo], {"hidden": 64, "pop_size": 64})
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _tables(df: pd.DataFrame, tmp_path: Path):
    from eggroll_bench.plots.tidy import build_tables

    return build_tables(load_results(write(df, tmp_path)))


def test_mean_curve_stops_at_the_shortest_seed_and_is_marked(tmp_path):
    import matplotlib.pyplot as plt
    from eggroll_bench.plots import style
    from eggroll_bench.plots.figures import curves_figure

    df = _cartpole()
    # EGGROLL's seed 2 diverged at 40% of the budget: no evaluations after that
    early = (df["algo"] == "eggroll") & (df["seed"] == 2) & (df["row_type"] == "eval") & (df["env_steps"] > 0.4 * BUDGET)
    df = df[~early]
    last = df[(df["algo"] == "eggroll") & (df["seed"] == 2) & (df["row_type"] == "eval")]["env_steps"].max()
    fig = curves_figure(_tables(df, tmp_path), "env_steps")
    ax = fig.axes[0]
    lines = {ln.get_color(): ln for ln in ax.get_lines() if ln.get_marker() in ("None", "")}
    egg = lines[style.colour("eggroll")]
    xs = np.asarray(egg.get_xdata())[np.isfinite(np.asarray(egg.get_ydata(), dtype=float))]
    assert xs.max() <= last and xs.max() > last - BUDGET / 50  # ends on the grid point at or before it
    ppo = lines[style.colour("ppo")]
    assert np.isfinite(np.asarray(ppo.get_ydata(), dtype=float)).all()  # every PPO seed runs to the end
    marks = [ln for ln in ax.get_lines() if ln.get_marker() == "|"]
    assert [m.get_color() for m in marks] == [style.colour("eggroll")]
    assert any(n.startswith("CartPole-v1: EGGROLL ends at") and "1 of 3 seeds" not in n and "2 of 3 seeds ran to 100,000"
               in n for n in fig._eggroll_notes)
    plt.close(fig)


def test_single_evaluation_point_is_a_marker_with_a_warning(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from eggroll_bench.plots import style
    from eggroll_bench.plots.figures import curves_figure

    df = _cartpole()
    # PPO evaluated only once per seed, at the end of its budget
    df = df[~((df["algo"] == "ppo") & (df["row_type"] == "eval") & (df["env_steps"] < BUDGET))]
    with pytest.warns(style.PlotWarning, match=r"CartPole-v1: PPO has a single evaluation point \(at 100,000 env "
                                                 r"steps, 3 seeds\), drawn as a marker"):
        fig = curves_figure(_tables(df, tmp_path), "env_steps")
    ax = fig.axes[0]
    ppo = [ln for ln in ax.get_lines() if ln.get_color() == style.colour("ppo")]
    assert [list(ln.get_xdata()) for ln in ppo if ln.get_marker() == "o"] == [[BUDGET]]
    assert all(len(ln.get_xdata()) == 1 for ln in ppo)  # a marker and its caps, no line
    plt.close(fig)
    # render reports it with the other notes (what `eggroll-bench plot` prints); only this figure is
    # drawn, the others would take most of the test's time
    from eggroll_bench.plots import render as render_module

    builders = render_module._builders
    monkeypatch.setattr(render_module, "_builders", lambda *a: [b for b in builders(*a) if b[0] == "curves_env_steps"])
    result = render(tmp_path, tmp_path / "figs")
    assert list(result.outputs) == ["curves_env_steps"]
    assert any(n.startswith("curves_env_steps: CartPole-v1: PPO has a single evaluation point") for n in result.notes)


def test_training_time_skipped_when_only_one_es_algorithm_ran(tmp_path):
    from eggroll_bench.plots.figures_systems import training_time_figure

    tables = _tables(_cartpole(("eggroll", "ppo")), tmp_path)
    assert training_time_figure(tables) == ("only EGGROLL ran (no OpenES results), so there is no EGGROLL vs "
                                            "OpenES time to compare")
    df = _cartpole(("eggroll", "openes"))
    df.loc[df["algo"] == "openes", "env"] = "Pendulum-v1"  # both ran, never on the same task
    assert "never ran on the same task" in training_time_figure(_tables(df, tmp_path / "b"))


def test_sensitivity_without_ppo_is_skipped_and_categories_are_not_joined(tmp_path):
    import matplotlib.pyplot as plt
    from eggroll_bench.plots.sensitivity import sensitivity_figure

    df = sweep_results()
    tables = _tables(df[df["algo"] != "ppo"], tmp_path / "a")
    assert sensitivity_figure(tables, "lr") == ("no defined normalised score for the trials that vary lr "
                                                "(no PPO reference: CartPole-v1, Pendulum-v1)")
    rows = _trial("ppo", "CartPole-v1", 1, 20.0, 500.0, {"hidden": 64})
    for act in ("tanh", "pqn"):
        rows += _trial("eggroll", "CartPole-v1", 1, 20.0, 300.0, {"activation": act}, tid=f"e-{act}")
    fig = sensitivity_figure(_tables(pd.DataFrame(rows, columns=list(COLUMNS)), tmp_path / "b"), "activation")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["pqn", "tanh"]
    from eggroll_bench.plots import style

    points = [ln for ln in ax.get_lines() if ln.get_color() == style.colour("eggroll") and ln.get_marker() == "o"]
    assert len(points) == 1 and points[0].get_linewidth() == 0  # markers only, no line between categories
    plt.close(fig)


# --- per-task verdicts ---------------------------------------------------------------------------

def test_verdicts_follow_the_stated_rule(rendered):
    from eggroll_bench.plots.stats import Interval
    from eggroll_bench.plots.verdicts import BETTER, COMPARABLE, TOO_FEW, WORSE, verdict

    d, result = rendered
    assert [p.name for p in result.outputs["verdicts"]] == ["verdicts.csv", "verdicts.md"]
    table = pd.read_csv(d / "figures" / "verdicts.csv").set_index("env")
    # seeds at final -10, +0, +10: each mean's Welch interval of the difference has half-width
    # t_{0.975, 4} * sqrt(100/3 + 100/3) = 22.67
    half = 2.7764451051977987 * np.sqrt(200 / 3)
    cartpole = table.loc["CartPole-v1"]  # 420 vs 380: interval above 0, gap 40 >= 5% of (500 - 20)
    assert (cartpole["diff"], cartpole["diff_lo"], cartpole["diff_hi"]) == \
        (pytest.approx(40.0), pytest.approx(40.0 - half), pytest.approx(40.0 + half))
    assert cartpole["verdict"] == BETTER
    assert cartpole["eggroll_score"] == pytest.approx((420 - 20) / (500 - 20))
    assert cartpole["openes_ratio"] == pytest.approx(380 / 500)
    assert table.loc["Pendulum-v1", "verdict"] == BETTER  # -400 vs -600, gap 200 >= 5% of 1000
    assert np.isnan(table.loc["Pendulum-v1", "eggroll_ratio"])  # R / R_PPO undefined: R_PPO < 0
    assert table.loc["Freeway-MinAtar", "verdict"] == COMPARABLE  # 30 vs 25: the interval holds 0
    assert table.loc["MPE_simple_spread_v3", "verdict"] == COMPARABLE
    assert "verdict" in (d / "figures" / "verdicts.md").read_text()
    # the margin: a consistent gap too small to matter is comparable; no PPO scale leaves the interval alone
    assert verdict(Interval(2.0, 1.0, 3.0), scale=480.0) == COMPARABLE
    assert verdict(Interval(2.0, 1.0, 3.0), scale=np.nan) == BETTER
    assert verdict(Interval(-30.0, -40.0, -20.0), scale=480.0) == WORSE
    assert verdict(Interval(np.nan, np.nan, np.nan), scale=480.0) == "–"
    assert verdict(Interval(40.0, np.nan, np.nan), scale=480.0) == TOO_FEW  # one seed on a side


def test_no_verdicts_without_both_es(tmp_path):
    from eggroll_bench.plots.verdicts import write_verdicts

    assert write_verdicts(_tables(_cartpole(("eggroll", "ppo")), tmp_path), tmp_path / "out") == \
        "no task where both EGGROLL and OpenES ran"


def test_time_figures_say_when_trials_shared_the_cpu(tmp_path):
    from eggroll_bench.plots.figures_systems import shared_host_notes, training_time_figure

    df = _cartpole()
    df["device"] = "cpu (2 cores, x86_64)"
    df["host_trials"] = 1
    alone = _tables(df, tmp_path / "alone")
    assert shared_host_notes(alone.trials) == []
    df.loc[df["algo"] == "openes", "host_trials"] = 2
    shared = _tables(df, tmp_path / "shared")
    assert shared_host_notes(shared.trials) == [
        "up to 2 trials ran at once on the CPU (cpu (2 cores, x86_64)), sharing its cores: absolute times are "
        "longer than a trial alone would take"]
    fig = training_time_figure(shared)
    assert any("up to 2 trials ran at once" in line for line in fig._eggroll_notes)  # style.footnote
    df["device"] = "NVIDIA H200"  # one trial per GPU: its cores are its own
    assert shared_host_notes(_tables(df, tmp_path / "gpu").trials) == []
