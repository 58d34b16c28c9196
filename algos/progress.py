"""Training progress on the terminal, or in a log: what `runner.train` shows while it runs.

On a terminal, a tqdm bar redrawn in place. Written to a file or a pipe (a sweep's log, CI), the
carriage returns of a bar become hundreds of updates per trial in the log, so there a plain line
is printed instead at most every `every_s` seconds, and once at the end. Both take the same
calls (`update`, `set_postfix`, `close`, `n`), so the runner does not care which it has.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

LINE_EVERY_S = 10.0


class LineProgress:
    """tqdm's `update` / `set_postfix` / `close` as plain lines, at most one every `every_s` seconds."""

    def __init__(self, total: int, desc: str, file: TextIO | None = None, every_s: float = LINE_EVERY_S):
        self.total, self.desc, self.every_s = int(total), desc, float(every_s)
        self.file = file
        self.n = 0
        self.postfix = ""
        self.start = self.last = time.monotonic()
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self._line(now)

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._line(time.monotonic())

    def _line(self, now: float) -> None:
        self.last = now
        elapsed = now - self.start
        rate = self.n / elapsed if elapsed > 0 else 0.0
        pct = 100.0 * self.n / self.total if self.total else 100.0
        extra = f", {self.postfix}" if self.postfix else ""
        print(f"{self.desc}: {self.n:,}/{self.total:,} steps ({pct:.0f}%), {elapsed:.0f}s, {rate:,.0f} steps/s{extra}",
              file=self.file or sys.stderr, flush=True)


def progress_bar(total: int, desc: str, file: TextIO | None = None) -> Any:
    """A tqdm bar when `file` (default stderr) is a terminal, else a `LineProgress`."""
    out = file or sys.stderr
    isatty = getattr(out, "isatty", None)
    if isatty is not None and isatty():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="step", unit_scale=True, dynamic_ncols=True, leave=True, file=out)
    return LineProgress(total, desc, out)
