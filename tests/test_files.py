"""files.py and the temp files of killed writers: atomic writes, directory fsyncs, the umask."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from eggroll_bench import files
from eggroll_bench.algos.checkpoint import TrialArtifacts, checkpoint_path, discard_checkpoint
from eggroll_bench.algos.policy import policy_paths


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def test_a_new_files_mode_follows_the_umask_without_ever_setting_it(tmp_path, umask_027, monkeypatch):
    assert files.umask() == files._umask_by_probe() == umask_027

    def never(_mask):
        raise AssertionError("os.umask called: for that moment other threads create files under another umask")

    monkeypatch.setattr(os, "umask", never)
    files.write_atomic(tmp_path / "new.txt", "x")
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o640
    (tmp_path / "new.txt").chmod(0o604)
    files.write_atomic(tmp_path / "new.txt", "y")  # a replaced file keeps its own mode
    assert (tmp_path / "new.txt").stat().st_mode & 0o777 == 0o604


def test_new_directories_are_fsynced_in_their_parent(tmp_path, monkeypatch):
    synced: list[Path] = []
    real = files.fsync_dir
    monkeypatch.setattr(files, "fsync_dir", lambda d: (synced.append(Path(d)), real(d))[1])
    files.write_bytes_atomic(tmp_path / "a" / "b" / "f.bin", b"data")
    # a, then b, each in its parent; then the file's rename in b
    assert synced == [tmp_path, tmp_path / "a", tmp_path / "a" / "b"]
    synced.clear()
    files.write_bytes_atomic(tmp_path / "a" / "b" / "g.bin", b"data")  # nothing new to make
    assert synced == [tmp_path / "a" / "b"]


def _killed_writer_temps(out: Path, trial: str) -> list[Path]:
    """What a writer SIGKILLed mid-write leaves: `.<name>.<random>.tmp` beside the file it was writing."""
    state, sidecar = policy_paths(out, trial, 0)
    ckpt = checkpoint_path(out, trial)
    made = [state.parent / f".{state.name}.k1x2.tmp", state.parent / f".{sidecar.name}.z9q.tmp",
            ckpt.parent / f".{ckpt.name}.abc.tmp", ckpt.parent / f".{trial}+1.msgpack.def.tmp"]
    for path in made:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a file")
    return made


def test_a_trial_that_starts_again_removes_its_killed_writers_temp_files(tmp_path):
    mine = _killed_writer_temps(tmp_path, "aaaaaaaaaaaa")
    other = _killed_writer_temps(tmp_path, "bbbbbbbbbbbb")  # another trial's (maybe running now): kept
    hooks = TrialArtifacts(str(tmp_path), ("aaaaaaaaaaaa",), checkpoint_every_s=60)
    assert hooks.resume(None, [0]) is None  # no checkpoint to resume from
    assert [p.exists() for p in mine] == [False, False, False, True]  # the group's is discard's (below)
    assert all(p.exists() for p in other)
    discard_checkpoint(tmp_path, "aaaaaaaaaaaa")
    assert not any(p.exists() for p in mine)
    assert all(p.exists() for p in other)
