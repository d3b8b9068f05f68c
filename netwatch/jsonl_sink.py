"""A ``MeasurementSink`` appending one JSON object per line (``Measurement.to_dict``) to a file.

Probe threads only enqueue; one writer thread serialises, appends and flushes, so a slow disk
never delays a probe. Each line is written whole and flushed before the writer waits again; after
a crash at most the last line is cut short, and the next start begins on a fresh line so earlier
lines stay parseable.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from netwatch.model import Measurement

log = logging.getLogger(__name__)

SINK_NAME = "jsonl"
"""The ``sink`` label of this sink's write errors."""

_STOP = object()


class JsonLinesSink:
    """Append measurements to ``path`` (created if missing, never truncated).

    ``on_error(sink_name)`` is called once per measurement that could not be written (queue full
    or an ``OSError``); the measurement is dropped and probing goes on. ``max_queue`` bounds the
    memory held for a stalled disk. Opening the file happens here, so a bad path fails at start.
    """

    def __init__(self, path: Path, on_error: Callable[[str], None], max_queue: int = 100_000) -> None:
        self.path = path
        self._on_error = on_error
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._file: BinaryIO = path.open("ab", buffering=0)  # each batch goes straight to the OS
        _start_on_fresh_line(path, self._file)
        self._closed = False
        self._torn = False
        self._lock = threading.Lock()
        self._writer = threading.Thread(target=self._drain, name="jsonl-sink", daemon=True)
        self._writer.start()

    def write(self, measurement: Measurement) -> None:
        """Queue ``measurement``; returns at once, never raises."""
        with self._lock:
            if self._closed:
                return
            try:
                self._queue.put_nowait(measurement)
            except queue.Full:
                log.error("measurement queue full; dropped %s", measurement.id)
                self._on_error(SINK_NAME)

    def close(self) -> None:
        """Write everything queued before this call, fsync and close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(_STOP)
        self._writer.join()

    def _drain(self) -> None:
        while True:
            batch = [self._queue.get()]
            while not self._queue.empty():  # write what has piled up in one go
                batch.append(self._queue.get_nowait())
            self._append([entry for entry in batch if isinstance(entry, Measurement)])
            if _STOP in batch:
                self._close_file()
                return

    def _append(self, measurements: list[Measurement]) -> None:
        lines = []
        for measurement in measurements:
            try:
                lines.append(json.dumps(measurement.to_dict(), ensure_ascii=False, separators=(",", ":")))
            except (TypeError, ValueError) as exc:  # evidence that is not JSON: a probe bug
                log.error("measurement %s is not JSON-serialisable: %s", measurement.id, exc)
                self._on_error(SINK_NAME)
        if not lines:
            return
        try:
            # after a failed write the file may end mid-line: end that line first
            data = ("\n" if self._torn else "") + "\n".join(lines) + "\n"
            self._write_all(data.encode())
            self._torn = False
        except OSError as exc:
            self._torn = True
            log.error("could not write %d measurements to %s: %s", len(lines), self.path, exc)
            for _ in lines:
                self._on_error(SINK_NAME)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._file.write(view) :]

    def _close_file(self) -> None:
        try:
            os.fsync(self._file.fileno())
        except OSError as exc:
            log.error("could not fsync %s: %s", self.path, exc)
        try:
            self._file.close()
        except OSError as exc:
            log.error("could not close %s: %s", self.path, exc)


def _start_on_fresh_line(path: Path, file: BinaryIO) -> None:
    """If a previous run died mid-line, end that line so the next one starts clean."""
    with path.open("rb") as existing:
        existing.seek(0, 2)
        if existing.tell() == 0:
            return
        existing.seek(-1, 2)
        if existing.read(1) != b"\n":
            file.write(b"\n")
