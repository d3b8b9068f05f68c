"""Crash safety: a writer process SIGKILLed at random moments mid-write loses nothing it reported
committed, and the database always passes ``PRAGMA integrity_check``."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from store_samples import sample

from netwatch.store import MeasurementStore, Store

HERE = Path(__file__).parent
KILLS = 20


def _run_and_kill(db: Path, prefix: str, rng: random.Random) -> list[str]:
    """Start the writer, wait for its first commit, SIGKILL it a random moment later; return the
    ids it reported committed (complete lines only: a torn last line was never fully reported)."""
    path = [str(HERE), str(HERE.parent), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "store_crash_writer.py"), str(db), prefix],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # blocks until the first batch is committed
    assert first.endswith(b"\n"), "writer exited before committing anything"
    time.sleep(rng.uniform(0.0, 0.25))
    proc.send_signal(signal.SIGKILL)
    rest = proc.stdout.read()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    lines = (first + rest).decode().split("\n")
    return [line for line in lines[:-1] if line]


def test_sigkill_mid_write_loses_nothing_committed(tmp_path: Path) -> None:
    db = tmp_path / "netwatch.sqlite3"
    rng = random.Random(20220105)
    reported: dict[str, str] = {}
    for run in range(KILLS):
        prefix = f"r{run:02d}-"
        ids = _run_and_kill(db, prefix, rng)
        assert ids
        reported[prefix] = ids[-1]

    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # Batches commit in order, so every id up to a run's last reported one must be there.
        for prefix, last in reported.items():
            expected = {f"{prefix}{n:08d}" for n in range(int(last[len(prefix) :]) + 1)}
            stored = {
                row[0] for row in conn.execute("SELECT id FROM measurements WHERE id LIKE ?", (prefix + "%",))
            }
            missing = expected - stored
            assert not missing, f"{prefix}: {len(missing)} committed measurements lost"
    Store(db)  # reopens and migrates cleanly after all the crashes


# -- storage failures: reported clearly, counted, probing goes on, nothing committed is lost ------


@contextmanager
def _tmpfs(mountpoint: Path, size: str) -> Iterator[Path]:
    """A real filesystem we can fill up or make read-only; skips unless we may mount (root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs (full-disk / read-only filesystem simulation)")
    mountpoint.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)


def _remount(mountpoint: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(mountpoint)], check=True)


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _stored_ids(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return {row[0] for row in conn.execute("SELECT id FROM measurements")}


def test_read_only_filesystem_is_reported_and_writing_resumes(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "fs", "8m") as fs:
        path = fs / "netwatch.sqlite3"
        earlier = MeasurementStore(path)
        for n in range(10):
            earlier.write(sample(n))
        earlier.close()
        _remount(fs, "ro")

        errors: list[str] = []
        drops: list[None] = []
        sink = MeasurementStore(
            path, queue_size=5, retry_s=0.02, max_retry_s=0.05,
            on_write_error=errors.append, on_drop=lambda: drops.append(None),
        )  # fmt: skip
        for n in range(10, 30):
            sink.write(sample(n))  # never raises, never blocks
        _wait_for(lambda: sink.write_errors >= 2)
        assert "read-only" in errors[0] and str(path.parent) in errors[0]
        assert sink.last_error == errors[0]
        assert sink.dropped == len(drops) > 0  # queue full while storage is down: counted

        _remount(fs, "rw")
        _wait_for(lambda: sink.last_error is None and sink.committed == 20 - sink.dropped)
        sink.close()
        assert {f"m{n:08d}" for n in range(10)} <= _stored_ids(path)
        assert len(_stored_ids(path)) == 30 - sink.dropped


def test_read_only_database_file_is_reported(tmp_path: Path) -> None:
    """The file (not the filesystem) is read-only: SQLite opens it read-only and every commit fails.
    Root ignores file modes, so there the read-only mount test above stands in for this one."""
    path = tmp_path / "netwatch.sqlite3"
    Store(path)
    path.chmod(0o444)
    if os.access(path, os.W_OK):
        pytest.skip("running as root: file modes do not stop writes (the read-only mount test covers it)")
    sink = MeasurementStore(path, retry_s=0.02)
    sink.write(sample(1))
    _wait_for(lambda: sink.write_errors >= 1)
    assert sink.last_error is not None and "read-only" in sink.last_error
    sink.close(timeout_s=0.1)


def test_full_disk_is_reported_and_committed_data_survives(tmp_path: Path) -> None:
    with _tmpfs(tmp_path / "fs", "512k") as fs:
        path = fs / "netwatch.sqlite3"
        committed: list[str] = []
        errors: list[str] = []
        sink = MeasurementStore(
            path, queue_size=10_000, batch_size=50, retry_s=0.02, max_retry_s=0.05,
            on_write_error=errors.append, on_commit=lambda batch: committed.extend(m.id for m in batch),
        )  # fmt: skip
        for n in range(3000):  # ~2 MB of JSON into 512 KiB
            sink.write(sample(n))
        _wait_for(lambda: sink.write_errors >= 2)
        assert "disk full" in errors[0]
        assert committed, "some batches should have fit before the disk filled"
        assert set(committed) <= _stored_ids(path)  # nothing committed before the error is lost

        _remount(fs, "size=16m")  # free space: the writer retries and catches up
        _wait_for(lambda: sink.committed == 3000)
        sink.close()
        assert sink.dropped == 0
        assert len(_stored_ids(path)) == 3000
