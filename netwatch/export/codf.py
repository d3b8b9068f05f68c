"""Outages as events of the Common Outage Data Format (CODF), as IODA's outage-events API emits it.

IODA's CODF event: ``location`` (``<type>/<code>``), ``location_name``, ``start`` (epoch seconds),
``duration`` (seconds), ``uncertainty`` (seconds or null), ``status``, ``fraction`` (0..1 or null),
``score``, ``method``, ``datasource`` and ``overlaps_window``. netwatch keeps those names and
meanings and appends its own fields (``id``, ``incident_id``, ``layer``...). The mapping and its
reasons are in ``docs/export.md``.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from netwatch.model import Outage, format_utc
from netwatch.timefmt import local_iso

DATASOURCE = "netwatch"


def codf_event(outage: Outage, now: datetime) -> dict[str, Any]:
    """One CODF event for ``outage``.

    ``start`` is ``started_at`` (first failure observed) in whole epoch seconds, floored;
    ``uncertainty`` how long before that the outage may have begun (``started_at -
    start_earliest``, ceiled; null when no good measurement preceded it). ``duration`` runs to
    ``ended_at``, or to ``now`` for an open outage, which is also flagged ``overlaps_window``
    (IODA's mark for an event still going on at the end of the window). ``score`` is netwatch's
    severity (share lost x minutes) in IODA's unit, percent x minutes. ``status`` is 0, as in
    every event IODA publishes.
    """
    o = outage
    start = math.floor(o.started_at.timestamp())
    end = o.ended_at if o.ended_at is not None else now
    return {
        "location": f"{o.scope_type.value}/{o.entity}",
        "location_name": o.entity,
        "start": start,
        "duration": max(0, math.ceil(end.timestamp()) - start),
        "uncertainty": None
        if o.start_earliest is None
        else math.ceil((o.started_at - o.start_earliest).total_seconds()),
        "status": 0,
        "fraction": o.fraction,
        "score": o.severity * 100.0,
        "method": o.method,
        "datasource": DATASOURCE,
        "overlaps_window": o.is_open,
        # netwatch extensions
        "id": o.id,
        "incident_id": o.incident_id,
        "layer": o.layer.value,
        "start_utc": format_utc(o.started_at),
        "start_local": local_iso(o.started_at),
        "end_uncertainty": None
        if o.ended_at is None or o.end_earliest is None
        else math.ceil((o.ended_at - o.end_earliest).total_seconds()),
        "targets_affected": o.targets_affected,
        "vantages_affected": o.vantages_affected,
    }
