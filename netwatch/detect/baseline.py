"""A group's own recent normal: the median of fixed-width time bins over a sliding window.

IODA compares a signal against the median of its recent history; we do the same per group so a
group that is always half-broken has a half-broken normal and does not page. Bins are sampled by
the detector's clock (never the wall clock); the detector skips sampling while the group is out
or its vantage is offline, so an outage never becomes the new normal.
"""

from __future__ import annotations

import statistics
from collections import deque
from datetime import datetime

from netwatch.detect.thresholds import Thresholds


class Baseline:
    """Median of the last ``window / bin`` samples; ``default`` until ``min_bins`` exist."""

    def __init__(self, thresholds: Thresholds, default: float) -> None:
        self._bin_s = thresholds.baseline_bin_s
        self._min_bins = thresholds.baseline_min_bins
        bins = int(thresholds.baseline_window_s // thresholds.baseline_bin_s)
        self._samples: deque[float] = deque(maxlen=bins)
        self._default = default
        self._last_bin: int | None = None
        # The median is read on every judgement but changes only when a sample lands.
        self._value = default

    def sample(self, now: datetime, value: float) -> bool:
        """Record ``value`` for the bin containing ``now`` (one sample per bin, first one wins:
        it describes the group as it entered the bin). Returns whether ``value()`` changed."""
        index = int(now.timestamp() // self._bin_s)
        if self._last_bin is not None and index <= self._last_bin:
            return False
        self._last_bin = index
        self._samples.append(value)
        old = self._value
        if len(self._samples) >= self._min_bins:
            self._value = float(statistics.median(self._samples))
        return self._value != old

    def value(self) -> float:
        return self._value
