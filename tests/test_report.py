"""`eggroll-bench report`: the self-contained HTML page of a tiny real sweep, opened in a real headless
Chromium (Debian's `chromium` + `chromium-driver`, driven by Selenium): every image loads, the tables
hold the sweep's trials, nothing is fetched from the network; and the bad-input paths."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from eggroll_bench.cli import main
from eggroll_bench.plots.load import load_results
from eggroll_bench.plots.render import Rendered
from eggroll_bench.plots.report import markdown_html, page
from eggroll_bench.plots.rollouts import draw_best
from eggroll_bench.plots.tidy import build_tables
from eggroll_bench.plots.validate import validate
from eggroll_bench.sweeps.manager import run_sweep
from eggroll_bench.sweeps.references import Reference
from eggroll_bench.sweeps.sweepfile import load_sweep

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
INSTALL = "apt-get install -y --no-install-recommends chromium chromium-driver, and pip install -e '.[test]' (selenium)"
BUDGET = 6000
TINY = f"""
name = "tinyreport"
algos = ["eggroll", "ppo"]
tasks = ["CartPole-v1"]
seeds = 2
budget = {BUDGET}

[set]  # tests/tiny.py's configurations
hidden = 8
eval_every = 2
eval_episodes = 4

[eggroll.set]
pop_size = 8

[eggroll.grid]
sigma = [0.05, 0.1]

[ppo.set]
num_envs = 4
num_steps = 32
"""
OURS = {"num_envs": 4, "num_steps": 32, "hidden": 8}
MAX_FRAMES = 20  # a short GIF: the test checks that it is drawn and loads, not the whole episode


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory) -> Path:
    """TINY trained for real in-process (2 EGGROLL configurations sharing a compile + PPO, policies
    saved), and `validate` run on it against one reference row of the test's own."""
    tmp = tmp_path_factory.mktemp("tinyreport")
    (tmp / "sweep.toml").write_text(TINY)
    summary = run_sweep(load_sweep(tmp / "sweep.toml", out=tmp / "out"), log=lambda *a: None)
    assert summary.exit_status == 0 and summary.counts["done"] == 3
    ref = Reference(id="test/ppo-cartpole", algo="ppo", task="CartPole-v1", source="tests/test_report.py",
                    commit="none", budget=BUDGET, protocol="separate evaluation", stochastic=True,
                    episodes="evaluation", value=100.0, value_how="a test row", seeds=1, curve_steps=(),
                    curve_returns=(), config={}, ours=OURS, differences=())
    validate(tmp / "out", references=[ref])
    return tmp / "out"


def chrome(tmp_path: Path):
    """A headless Chromium that never goes to the network (no selenium-manager, no updates)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = f"the browser test needs {', '.join(missing)}: {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


def test_report_page_opens_in_a_real_browser_with_every_image_and_trial(tiny_sweep, tmp_path, capsys):
    out, figures = tmp_path / "page" / "report.html", tmp_path / "figures"
    assert main(["report", str(tiny_sweep), "--out", str(out), "--figures", str(figures),
                 "--max-frames", str(MAX_FRAMES)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "rollout CartPole-v1: " + str(figures / "rollouts") in printed
    text = out.read_text()
    # self-contained: no resource or link leaves the file (only in-page anchors and data: URIs)
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text)
    assert refs and all(r.startswith(("data:image/", "#")) for r in refs), [r[:60] for r in refs if r[:5] != "data:"]
    assert not re.search(r"<(script|link|iframe|object)\b", text, re.I) and "url(" not in text
    # what the page should show: every PNG that plot drew, validate's figure, the one rollout GIF
    pngs = sorted(p.name for p in figures.glob("*.png"))
    assert {"curves_env_steps.png", "normalised_scores.png", "sensitivity_sigma.png"} <= set(pngs)
    expected_images = len(pngs) + 1 + 1
    results = pd.read_csv(tiny_sweep / "results.csv", dtype={"trial_id": str})
    trial_ids = set(results["trial_id"])
    assert len(trial_ids) == 3

    driver = chrome(tmp_path)
    try:
        driver.set_page_load_timeout(60)
        driver.get(out.resolve().as_uri())
        assert driver.execute_script("return document.readyState") == "complete"
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight,"
            " i.src.slice(0, 15)])")
        assert len(images) == expected_images, images
        broken = [i for i in images if not (i[1] and i[2] > 0 and i[3] > 0)]
        assert not broken, broken
        assert sum(i[4] == "data:image/gif;" for i in images) == 1
        # the browser fetched nothing over the network
        fetched = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert not [u for u in fetched if u.startswith(("http:", "https:"))], fetched
        tables = driver.execute_script(
            "return Object.fromEntries(Array.from(document.querySelectorAll('table')).map("
            "t => [t.className, t.innerText]))")
        assert {"summary", "configurations", "validate"} <= {c.split()[-1] for c in tables}, list(tables)
        by_kind = {c.split()[-1]: t for c, t in tables.items()}
        # the summary shows one row per algorithm (the best EGGROLL configuration), the
        # configuration table both EGGROLL configurations: between them, every trial of results.csv
        for algo in ("eggroll", "ppo"):
            assert algo in by_kind["summary"]
        assert all(tid in by_kind["summary"] + by_kind["configurations"] for tid in trial_ids)
        egg = set(results.loc[results["algo"] == "eggroll", "trial_id"])
        assert all(tid in by_kind["configurations"] for tid in egg)
        assert "test/ppo-cartpole" in by_kind["validate"]
        body = driver.find_element("tag name", "body").text
        assert "tinyreport" in body and "Best policy per task" in body and "CartPole-v1" in body
        height = driver.execute_script("return document.documentElement.scrollHeight")
        driver.set_window_size(1280, min(height, 12000))
        shot = tmp_path / "report.png"
        assert driver.save_screenshot(str(shot))
    finally:
        driver.quit()
    from PIL import Image

    with Image.open(shot) as im:
        assert im.width >= 1000 and im.height >= 2000, im.size
        colours = im.convert("RGB").resize((320, 640)).getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 200  # figures and a GIF, not a blank page


def test_no_rollouts_draws_no_episode(tiny_sweep, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["report", str(tiny_sweep), "--out", str(out), "--figures", str(tmp_path / "figs"),
                 "--no-rollouts"]) == 0
    text = out.read_text()
    assert "data:image/gif" not in text and "--no-rollouts</code>" in text
    assert not (tmp_path / "figs" / "rollouts").exists()


def test_a_task_without_a_saved_policy_gets_a_line_saying_why(tiny_sweep, tmp_path):
    kept = tmp_path / "results-only"
    shutil.copytree(tiny_sweep / "trials", kept / "trials")  # the results kept, not the policies
    tables = build_tables(load_results(kept))
    (drawn,) = draw_best(kept, tables, tmp_path / "gifs")
    assert drawn.env == "CartPole-v1" and drawn.gif is None and "no saved policy" in drawn.why
    text = page(str(kept), kept, tables, Rendered({}, [], tables), [drawn])
    assert "CartPole-v1: " in text and "not drawn, no saved policy for this trial" in text and "<img" not in text
    assert not (tmp_path / "gifs").exists()


def test_a_directory_without_results_is_refused_and_nothing_is_written(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    err = capsys.readouterr().err
    assert "no results in" in err and "trials" in err and "results.csv" in err
    assert list(empty.iterdir()) == []
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "no such directory" in capsys.readouterr().err
    assert main(["report", str(empty), "--out", str(tmp_path / "page.pdf")]) == 2
    assert "must end in .html" in capsys.readouterr().err
    assert main(["report", str(empty), "--max-frames", "0"]) == 2
    assert "--max-frames must be >= 1" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [empty]


def test_markdown_tables_and_text_are_escaped():
    md = ("# Title\n\nVerdict rule: <b>bold</b> & **strong** `code`.\n\n| a | b |\n|---|---:|\n"
          "| <script>x</script> | **matches** |\n")
    out = markdown_html(md)
    assert "<script>" not in out and "&lt;script&gt;x&lt;/script&gt;" in out
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; <strong>strong</strong> <code>code</code>" in out
    assert "<strong>matches</strong>" in out and "Title" not in out


def test_the_help_states_the_frame_cap_in_force():
    from eggroll_bench.cli import build_parser
    from eggroll_bench.plots.rollouts import MAX_FRAMES as CAP

    report = build_parser()._subparsers._group_actions[0].choices["report"]
    assert f"default {CAP}:" in " ".join(report.format_help().split())
