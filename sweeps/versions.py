"""Resuming a sweep after a code or library change: which finished trials another version produced.

Every result row records the eggroll-bench that produced it (`code_version`: version, git commit
and a hash of uncommitted changes, see `provenance`) and the library versions (`versions`). A
sweep resumed under other code or libraries would silently put both versions' trials in one
table, so `run_sweep` lists the finished trials (done or diverged; a failed trial is no result)
whose rows differ from this process's versions and refuses to run the pending ones unless the user
says so (`--allow-mixed-versions`). A trial's checkpoint is checked the same way when it resumes
(`algos.checkpoint`). No JAX here: the sweep process reads the rows' text columns only.
"""
from __future__ import annotations

import json
from typing import Iterable

from eggroll_bench.provenance import differences, provenance
from eggroll_bench.sweeps.store import ResultsStore
from eggroll_bench.sweeps.sweepfile import SweepError

FLAG = "--allow-mixed-versions"


class MixedVersionsError(SweepError):
    """Finished trials of the directory were produced by another eggroll-bench or library version."""


def other_versions(store: ResultsStore, trial_ids: Iterable[str]) -> dict[str, list[str]]:
    """{how a version differs from this process's: [trial ids produced by it]} over `trial_ids`' finished rows."""
    wanted = set(trial_ids)
    now = provenance()
    out: dict[str, list[str]] = {}
    for tid, produced in sorted(store.produced_by().items()):
        if tid not in wanted:
            continue
        for code, versions in sorted(produced):
            try:
                held = {"code_version": code, "versions": json.loads(versions) if versions else {}}
            except ValueError:
                held = {"code_version": code, "versions": {}}
            if changed := differences(held, now):
                trials = out.setdefault("; ".join(changed), [])
                if tid not in trials:
                    trials.append(tid)
    return out


def check_versions(store: ResultsStore, trial_ids: Iterable[str], allow: bool, log) -> None:
    """Refuse (`MixedVersionsError`) to resume among trials another version produced, listing them;
    with `allow`, say so and go on."""
    found = other_versions(store, trial_ids)
    if not found:
        return
    count = len({t for ids in found.values() for t in ids})
    lines = [f"  {len(ids)} by {how}: {', '.join(ids[:10])}{' ...' if len(ids) > 10 else ''}"
             for how, ids in found.items()]
    what = f"{count} finished trials in {store.directory} were produced by another version:\n" + "\n".join(lines)
    if allow:
        log(f"note: {what}\nkept ({FLAG}); every row records the versions that produced it")
        return
    raise MixedVersionsError(f"{what}\nrunning this sweep's pending trials here would mix versions in one table. "
                             f"Run it into a new directory (--out), retry those trials there, or pass {FLAG} "
                             f"to keep them and go on (each row records its versions)")
