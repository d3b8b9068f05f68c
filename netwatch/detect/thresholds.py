"""Every detection threshold, in one frozen model, loadable from the ``detection:`` config section.

Times are seconds. Defaults suit a real deployment probing every 60 s; compressed scenarios (the
lab, tests) scale the time-valued ones down with the probe interval. Reasons: docs/detection.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Thresholds(BaseModel):
    """Detection thresholds. Unknown keys are rejected; every value is validated at load."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Per (vantage, target, kind) hysteresis, in consecutive measurements.
    down_after: int = Field(default=2, ge=1)
    up_after: int = Field(default=2, ge=1)
    # Slow or partial answers in a row before a target counts as degraded. More than down_after:
    # on a lossy path a lost SYN makes a probe slow (1 s retransmission) far more often than it
    # makes it fail, and slowness alerts are not the ones that must arrive within two intervals.
    degraded_after: int = Field(default=3, ge=1)
    # Latency baseline: median of the last ``latency_window`` fast successes; a success slower than
    # max(median x slow_factor, slow_min_s) is "slow" (degraded). Needs latency_min_samples first.
    latency_window: int = Field(default=20, ge=3)
    latency_min_samples: int = Field(default=5, ge=1)
    slow_factor: float = Field(default=4.0, gt=1.0)
    slow_min_s: float = Field(default=1.0, ge=0.0)
    # Groups: share of the normally reachable members lost (vs the group's baseline) that makes a
    # group "out"; share of members in degraded state (above baseline) that makes it "throttled".
    loss_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    throttle_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    # Share of a group's members that must sit in parts (by region / network type) that are lost
    # themselves: a loss concentrated in one part belongs to that part's own, narrower group.
    homogeneity: float = Field(default=0.6, gt=0.0, le=1.0)
    # Share of a group's members whose state must be known before the group is judged at all.
    min_known_share: float = Field(default=0.5, gt=0.0, le=1.0)
    # Groups with fewer members than small_group_size must stay out small_group_hold_s before
    # they are reported (a single flaky target must not page); larger groups after group_hold_s.
    small_group_size: int = Field(default=3, ge=1)
    small_group_hold_s: float = Field(default=600.0, ge=0.0)
    group_hold_s: float = Field(default=0.0, ge=0.0)
    # Baseline: one sample per group every baseline_bin_s, median over baseline_window_s; until
    # baseline_min_bins samples exist a group is assumed fully reachable and not degraded.
    baseline_bin_s: float = Field(default=600.0, gt=0.0)
    baseline_window_s: float = Field(default=86_400.0, gt=0.0)
    baseline_min_bins: int = Field(default=3, ge=1)
    # Controls: share of a vantage's controls down that makes the vantage offline, or, inside and
    # still reaching domestic targets (at least small_group_size of them and domestic_reach_share
    # of those measured since the controls failed), an international cut.
    control_down_share: float = Field(default=0.6, gt=0.0, le=1.0)
    domestic_reach_share: float = Field(default=0.05, gt=0.0, le=1.0)
    # Within layer_settle_s of opening an outage its layer may still be revised in place (targets
    # are not all re-probed at once); later, a layer held that long becomes a new record.
    layer_settle_s: float = Field(default=300.0, ge=0.0)
    # Outages of one country starting less than incident_gap_s after the previous one ended are
    # episodes of one incident (the January 2022 restoration windows lasted 3-8 hours).
    incident_gap_s: float = Field(default=12 * 3600.0, ge=0.0)
    evidence_cap: int = Field(default=50, ge=1)

    @model_validator(mode="after")
    def _window_holds_bins(self) -> Thresholds:
        if self.baseline_window_s < self.baseline_bin_s * self.baseline_min_bins:
            raise ValueError("baseline_window_s must hold at least baseline_min_bins bins")
        return self

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> Thresholds:
        """Build from the ``detection:`` mapping of the config file (None: all defaults).

        Raises ``pydantic.ValidationError`` naming each bad key.
        """
        return cls.model_validate(dict(section or {}))
