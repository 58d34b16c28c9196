"""The validate suite: the reference table, `[[runs]]` in sweep files, sweeps/validate.toml, and the
`eggroll-bench validate` comparison (verdicts, table, figure) on a tiny real sweep."""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from eggroll_bench.algos.registry import resolve
from eggroll_bench.cli import main
from eggroll_bench.envs.registry import get_task
from eggroll_bench.plots import validate as pv
from eggroll_bench.sweeps.manager import run_sweep
from eggroll_bench.sweeps.references import REFERENCES_FILE, ReferenceError, load_references, references_markdown
from eggroll_bench.sweeps.sweepfile import SweepError, load_sweep

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "sweep.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- the reference table ----------------------------------------------------------------------------

def test_every_reference_names_source_budget_protocol_and_a_config_that_resolves():
    refs = load_references()
    assert {r.algo for r in refs} == {"ppo", "openes"}
    required_rows = {f"gymnax-blines/ppo/{t}" for t in ("CartPole-v1", "Acrobot-v1", "Asterix-MinAtar",
                                                         "Breakout-MinAtar", "Freeway-MinAtar", "SpaceInvaders-MinAtar")}
    required_rows |= {f"gymnax-blines/openes/{t}" for t in ("CartPole-v1", "Acrobot-v1", "Pendulum-v1")}
    required_rows |= {"purejaxrl/ppo/CartPole-v1", "jaxmarl/ippo_ff_mpe/MPE_simple_spread_v3"}
    assert required_rows <= {r.id for r in refs}
    for r in refs:
        assert r.source and r.commit and r.protocol and r.value_how and r.budget > 0, r.id
        assert r.episodes in ("evaluation", "training")
        # every hyperparameter of `ours` survives resolution unchanged (none is dropped or coerced away)
        config = resolve(r.algo, get_task(r.task).defaults, r.ours)
        assert {k: getattr(config, k) for k in r.ours} == dict(r.ours), r.id
        if r.value is None:  # an absent value says why
            assert "no published number" in r.value_how
        if r.curve_steps:  # a log's last point is the reported value, within the budget
            assert r.curve_returns[-1] == r.value and r.curve_steps[-1] <= r.budget
            assert list(r.curve_steps) == sorted(r.curve_steps)


def test_a_reference_our_config_cannot_express_is_refused(tmp_path):
    text = REFERENCES_FILE.read_text()
    bad = text.replace("num_steps = 32, num_minibatches = 4", "num_steps = 32, num_minibatches = 5", 1)
    with pytest.raises(ReferenceError, match=r"gymnax-blines/ppo/CartPole-v1: ours: num_minibatches=5 must divide"):
        load_references(write(tmp_path, bad, "bad.toml"))
    with pytest.raises(ReferenceError, match="unknown key 'vaule'"):
        load_references(write(tmp_path, text.replace("value = 500.0", "vaule = 500.0", 1), "typo.toml"))


def test_docs_page_carries_the_generated_table():
    page = (REPO / "docs" / "validate.md").read_text()
    block = re.search(r"<!-- references:begin -->\n(.*)<!-- references:end -->", page, re.S)
    assert block, "docs/validate.md lost its references markers"
    assert block.group(1) == references_markdown(), (
        "docs/validate.md is out of date with sweeps/validate_references.toml; regenerate the block with "
        "eggroll_bench.sweeps.references.references_markdown()")


# --- [[runs]] in sweep files ------------------------------------------------------------------------

RUNS = """
name = "runs"
seeds = 2
[set]
eval_every = 2
[ppo.set]
hidden = 16
[[runs]]
algo = "ppo"
task = "CartPole-v1"
budget = 4096
set = { num_envs = 8, num_steps = 32 }
grid = { eval_deterministic = [false, true] }
[[runs]]
algo = "ppo"
task = "Acrobot-v1"
budget = 8192
set = { num_envs = 16, hidden = 8 }
[[runs]]
algo = "openes"
task = "CartPole-v1"
set = { pop_size = 8 }
"""


def test_runs_give_each_cell_its_own_budget_and_settings(tmp_path):
    sweep = load_sweep(write(tmp_path, RUNS))
    cells = [(t.algo, t.env, t.budget, t.hparams.get("num_envs"), t.hparams["hidden"], t.hparams["eval_every"],
              t.hparams["eval_deterministic"]) for t in sweep.trials]
    quick = get_task("CartPole-v1").budget_quick
    assert cells == [("ppo", "CartPole-v1", 4096, 8, 16, 2, False), ("ppo", "CartPole-v1", 4096, 8, 16, 2, True),
                     ("ppo", "Acrobot-v1", 8192, 16, 8, 2, True),  # the run's set wins over [ppo.set]
                     ("openes", "CartPole-v1", quick, None, 64, 2, True)]
    assert sweep.algos == ("ppo", "openes") and sweep.tasks == ("CartPole-v1", "Acrobot-v1")
    # runs add to algos x tasks when both are given
    both = load_sweep(write(tmp_path, 'algos = ["ppo"]\ntasks = ["Pendulum-v1"]\n' + RUNS, "both.toml"))
    assert [t.env for t in both.trials][0] == "Pendulum-v1" and len(both.trials) == 5


@pytest.mark.parametrize("edit, message", [
    (("algo = \"openes\"", "algo = \"opnes\""), r"unknown algorithm 'opnes' in \[\[runs\]\] #3"),
    (("budget = 8192", "budget = -1"), r"\[\[runs\]\] #2 \(ppo on Acrobot-v1\): budget = -1"),
    (("set = { pop_size = 8 }", "set = { pop_sise = 8 }"), r"unknown openes hyperparameter 'pop_sise'"),
    (("task = \"Acrobot-v1\"", "task = \"core16\""), "is a suite; a run names one task"),
    (("budget = 8192\nset = { num_envs = 16, hidden = 8 }", "budget = 4096\nset = { num_envs = 8, num_steps = 32 }"
      "\ngrid = { eval_deterministic = [false, true] }\ntask2 = 1"), r"unknown key 'task2'"),
    (("set = { num_envs = 16, hidden = 8 }", "set = { num_envs = 16, num_minibatches = 3 }"),
     r"\[\[runs\]\] #2 \(ppo on Acrobot-v1\): ppo on Acrobot-v1: num_minibatches=3 must divide"),
])
def test_a_bad_run_is_refused_with_where_it_is(tmp_path, edit, message):
    with pytest.raises(SweepError, match=message):
        load_sweep(write(tmp_path, RUNS.replace(*edit)))


def test_a_run_that_repeats_another_trial_is_refused(tmp_path):
    text = RUNS + '[[runs]]\nalgo = "openes"\ntask = "CartPole-v1"\nset = { pop_size = 8 }\n'
    with pytest.raises(SweepError, match=r"\[\[runs\]\] #4 \(openes on CartPole-v1\): resolves to a trial already"):
        load_sweep(write(tmp_path, text))


def test_algos_and_tasks_still_go_together(tmp_path):
    with pytest.raises(SweepError, match="algos and tasks go together"):
        load_sweep(write(tmp_path, 'algos = ["ppo"]\n' + RUNS))
    with pytest.raises(SweepError, match="missing required key 'algos'"):
        load_sweep(write(tmp_path, 'name = "x"\nseeds = 1\ntasks = ["CartPole-v1"]\n', "plain.toml"))


# --- sweeps/validate.toml against the table -----------------------------------------------------------

def test_validate_sweep_runs_every_reference_at_its_budget_and_configuration():
    sweep = load_sweep(REPO / "sweeps" / "validate.toml")
    assert len(sweep.seeds) >= 5
    for ref in load_references():
        matching = [t for t in sweep.trials if t.algo == ref.algo and t.env == ref.task and t.budget == ref.budget
                    and all(t.hparams[k] == v for k, v in ref.ours.items())]
        # the reference's own protocol (stochastic) is always run; a greedy twin only where affordable
        assert {t.hparams["eval_deterministic"] for t in matching} >= {not ref.stochastic}, ref.id
    assert len(sweep.trials) == len(load_references()) + 3  # greedy twins: gymnax-blines CartPole/Acrobot, PureJaxRL


# --- the verdict rule, exactly -----------------------------------------------------------------------

@pytest.mark.parametrize("ref, mean, lo, hi, expected", [
    (500.0, 480.0, 470.0, 500.0, pv.MATCHES),   # the reference is inside our CI (its upper end)
    (500.0, 476.0, 470.0, 499.0, pv.MATCHES),   # outside the CI, but 24 <= 5% of 500
    (500.0, 474.0, 470.0, 499.0, pv.BELOW),     # 26 > 25 and outside the CI
    (-80.0, -84.0, -85.0, -83.0, pv.MATCHES),   # 4 <= 5% of |-80| = 4: the band is relative to |reference|
    (-80.0, -84.5, -85.0, -84.1, pv.BELOW),
    (-80.0, -70.0, -75.0, -65.0, pv.ABOVE),
    (0.0, 0.5, 0.1, 0.9, pv.ABOVE),             # a zero reference has no relative band
    (None, 10.0, 9.0, 11.0, pv.NO_VALUE),
    (10.0, float("nan"), float("nan"), float("nan"), pv.NOT_RUN),
])
def test_verdict_rule(ref, mean, lo, hi, expected):
    assert pv.verdict(ref, mean, lo, hi) == expected


def test_tolerance_widens_the_band():
    assert pv.verdict(500.0, 440.0, 430.0, 450.0) == pv.BELOW
    assert pv.verdict(500.0, 440.0, 430.0, 450.0, tolerance=0.15) == pv.MATCHES
    assert "within 15% of |reference|" in pv.rule(0.15)


# --- the command on a tiny real sweep ------------------------------------------------------------------

TINY = """
name = "tinyvalidate"
seeds = 2
save_policies = false
[[runs]]
algo = "ppo"
task = "CartPole-v1"
budget = 2048
set = { num_envs = 4, num_steps = 32, hidden = 8, eval_every = 4, eval_episodes = 4 }
grid = { eval_deterministic = [false, true] }
"""

TINY_OURS = "{ num_envs = 4, num_steps = 32, hidden = 8 }"


def reference_row(id_: str, value: float | None, budget: int = 2048, curve: str = "") -> str:
    value_line = f"value = {value}\n" if value is not None else ""
    how = "read from a test" if value is not None else "no published number: a test row"
    return f"""
[[reference]]
id = "{id_}"
algo = "ppo"
task = "CartPole-v1"
source = "tests/test_validate.py"
commit = "none"
budget = {budget}
protocol = "separate evaluation, stochastic policy"
stochastic = true
episodes = "evaluation"
{value_line}value_how = "{how}"
seeds = 1
{curve}config = {{ note = "test" }}
ours = {TINY_OURS}
differences = []
"""


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory):
    """TINY run for real, in-process, with the sweep machinery: two trials (stochastic and greedy evaluation)."""
    tmp = tmp_path_factory.mktemp("tinyvalidate")
    sweep = load_sweep(write(tmp, TINY), out=tmp / "out")
    summary = run_sweep(sweep, log=lambda *a: None)
    assert summary.exit_status == 0 and summary.counts["done"] == 2
    return tmp / "out"


def test_validate_writes_table_and_figure_with_the_verdicts(tiny_results, tmp_path, capsys):
    refs = tmp_path / "refs.toml"
    refs.write_text(reference_row("test/below", 1e6, curve="curve_steps = [1024, 2048]\ncurve_returns = [5e5, 1e6]\n")
                    + reference_row("test/above", -1e6) + reference_row("test/no-value", None)
                    + reference_row("test/not-run", 100.0, budget=4096))
    out = tmp_path / "report"
    assert main(["validate", str(tiny_results), "--out", str(out), "--references", str(refs)]) == 0
    printed = capsys.readouterr().out
    assert "Verdict rule: matches if the reference value lies inside our 95% CI" in printed
    assert {p.name for p in out.iterdir()} == {"validate.csv", "validate.md", "validate.png", "validate.pdf"}
    table = pd.read_csv(out / "validate.csv").set_index("reference")
    assert table["verdict"].to_dict() == {"test/below": "below", "test/above": "above",
                                          "test/no-value": "no reference value", "test/not-run": "not run"}
    below = table.loc["test/below"]
    assert below["ours_seeds"] == 2 and below["ours_ci_lo"] <= below["ours_mean"] <= below["ours_ci_hi"]
    # the reference's protocol (stochastic) is compared; the greedy twin is shown beside it
    assert below["compared_protocol"].startswith("stochastic evaluation") and below["other_protocol"].startswith("greedy")
    assert len(below["trial_ids"].split()) == 2

    # our own mean as the reference value: the rule says it matches (the wiring, end to end)
    mean = float(below["ours_mean"])
    refs.write_text(reference_row("test/exact", mean))
    result = pv.validate(tiny_results, tmp_path / "again", load_references(refs))
    assert [c.verdict for c in result.comparisons] == [pv.MATCHES]
    assert "| test/exact | 2,048 |" in (tmp_path / "again" / "validate.md").read_text()


def test_validate_says_what_is_wrong_with_a_bad_results_dir(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "missing")]) == 2
    assert "no such directory" in capsys.readouterr().err


def test_a_trial_probing_a_field_added_later_is_not_the_rows_run():
    """A row's `ours` written before `log_std` existed means its default: the committed Pendulum probe
    (log_std = 'state') stays beside the row's run, not in its place; an older trial with no
    `log_std` at all ran that default."""
    import dataclasses

    from eggroll_bench.sweeps.references import load_references

    ref = next(r for r in load_references() if r.id == "gymnax-blines/openes/Pendulum-v1")
    ref = dataclasses.replace(ref, ours={"lr": 0.125})
    trials = pd.DataFrame({"trial_id": ["old", "probe", "new"], "algo": "openes", "env": "Pendulum-v1",
                           "budget": ref.budget, "lr": 0.125, "log_std": [None, "state", "param"]})
    trials["log_std"] = trials["log_std"].fillna("param")  # as `compare` reads a trial from before the field
    assert list(pv.trials_of(ref, trials)["trial_id"]) == ["old", "new"]
    probe = dataclasses.replace(ref, ours={"lr": 0.125, "log_std": "state"})
    assert list(pv.trials_of(probe, trials)["trial_id"]) == ["probe"]
    # the committed directory: the row is judged on the default head's run, not the probe's
    row = next(c for c in pv.compare(REPO / "results" / "reference" / "validate")[0] if c.ref.id == ref.id)
    assert row.compared is not None and row.compared.trial_id != "94f286e4cb34"
