"""The installed entry point assembles every subcommand (run from outside the checkout)."""
from __future__ import annotations

import subprocess
import sys


def test_every_subcommand_is_registered(tmp_path):
    out = subprocess.run([sys.executable, "-m", "eggroll_bench.cli", "--help"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for command in ("envs", "train", "sweep", "status", "plot", "paper", "bench"):
        assert f"\n    {command} " in out.stdout, out.stdout
