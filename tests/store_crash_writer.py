"""Child process for tests/test_store_crash.py: writes measurements forever through a
``MeasurementStore`` and prints each committed batch's last id, after the commit, one per line.

Usage: python store_crash_writer.py DB_PATH RUN_PREFIX
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from itertools import count
from pathlib import Path

from store_samples import sample

from netwatch.model import Measurement
from netwatch.store import MeasurementStore


def main() -> None:
    path, prefix = Path(sys.argv[1]), sys.argv[2]

    def committed(batch: Sequence[Measurement]) -> None:
        sys.stdout.write(batch[-1].id + "\n")
        sys.stdout.flush()

    store = MeasurementStore(path, queue_size=2_000, batch_size=200, on_commit=committed)
    for n in count():
        store.write(sample(n, prefix=prefix))
        if n % 200 == 199:
            # Let the writer keep up so every measurement is accepted (ids stay contiguous).
            while store.committed < n - 1_000:
                time.sleep(0.001)


if __name__ == "__main__":
    main()
