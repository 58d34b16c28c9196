"""Training progress: a bar on a terminal, plain lines in a file or pipe (a sweep's log, CI)."""
from __future__ import annotations

import os

from eggroll_bench.algos.progress import LineProgress, progress_bar

def test_the_runners_progress_to_a_file_is_plain_lines_not_carriage_returns(capfd):
    from eggroll_bench.algos import runner

    bar = runner._progress(True, 3000, "openes CartPole-v1 x1 seeds")  # stderr is pytest's capture file
    for _ in range(300):  # as the runner reports it, one chunk after another
        bar.update(10)
        bar.set_postfix(ret="9.5")
    bar.close()
    err = capfd.readouterr().err
    assert "\r" not in err
    assert err.splitlines() == [line for line in err.splitlines() if line.startswith("openes CartPole-v1 x1 seeds: ")]
    assert len(err.splitlines()) == 1 and "3,000/3,000 steps (100%)" in err and err.rstrip().endswith("ret=9.5")


def test_lines_come_at_most_every_interval_and_once_at_the_end(tmp_path):
    log = tmp_path / "log.txt"
    with open(log, "w") as f:
        quiet = LineProgress(100, "t", f, every_s=3600)
        for _ in range(50):
            quiet.update(2)
        quiet.close()
        quiet.close()  # closing twice prints once
        every = LineProgress(100, "e", f, every_s=0)
        for _ in range(4):
            every.update(25)
            every.set_postfix(ret="1.5")
    lines = log.read_text().splitlines()
    assert lines[0].startswith("t: 100/100 steps (100%)") and len(lines) == 5
    assert [line.split(":")[1].split(" steps")[0].strip() for line in lines[1:]] == ["25/100", "50/100", "75/100",
                                                                                       "100/100"]
    assert lines[-1].endswith("ret=1.5")


def test_a_terminal_gets_the_redrawn_bar():
    controller, terminal = os.openpty()
    with os.fdopen(terminal, "w") as tty:
        bar = progress_bar(10, "t", tty)
        assert type(bar).__name__ == "tqdm" or "tqdm" in type(bar).__module__
        bar.close()
    os.close(controller)
    with open(os.devnull, "w") as sink:
        assert isinstance(progress_bar(10, "t", sink), LineProgress)
