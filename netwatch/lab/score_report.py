"""Scores as text: one Markdown table row per scenario, an overall row, and a line per problem.

Shared by ``netwatch lab score`` and ``bench/accuracy.py`` (which writes ``docs/accuracy.md``).
Times in the notes are scenario seconds; errors are seconds, positive = late.
"""

from __future__ import annotations

from collections.abc import Sequence

from netwatch.lab.run import RunResult
from netwatch.lab.score import Score, Sighting
from netwatch.model import Outage

HEADER = ("| scenario | truths | detected | recall | records (false) | precision | start err max s "
          "| end err max s | in window | scope+layer | incidents | targets |")
RULE = "|" + "---|" * 12


def table(scores: Sequence[Score]) -> str:
    """The Markdown table: one row per score, then an ``overall`` row over all of them."""
    rows = [HEADER, RULE, *(_row(s) for s in scores)]
    if len(scores) > 1:
        rows.append(_overall(scores))
    return "\n".join(rows) + "\n"


def problems(score: Score, result: RunResult) -> list[str]:
    """One line per miss, false record, wrong layer, timing or incident problem."""
    lines = []
    for t in score.truths:
        truth = t.truth
        what = f"{truth.scope.value}={truth.entity} {truth.layer.value} {truth.start:g}-{truth.end:g} s"
        if not t.detected:
            lines.append(f"missed: {what}")
            continue
        for s in t.sightings:
            if s.layer != t.truth.layer.value:
                lines.append(f"layer: {what}: {s.vantage} said {s.layer}")
            lines += [f"timing: {what}: {s.vantage} {issue}" for issue in _timing(s, score.interval_s)]
    for vantage, record in score.false:
        lines.append(f"false: {vantage} {_record(record, result)}")
    for vantage, count in score.incidents.items():
        if count > 1:
            lines.append(f"incidents: {vantage} split the truth into {count} incidents")
    return lines


def _timing(s: Sighting, interval_s: float) -> list[str]:
    issues = []
    if abs(s.start_error_s) > interval_s:
        issues.append(f"start error {s.start_error_s:+.1f} s")
    if not s.start_in_window:
        issues.append("start outside window")
    if s.end_error_s is None:
        issues.append("still open at the end of the run")
    else:
        if abs(s.end_error_s) > interval_s:
            issues.append(f"end error {s.end_error_s:+.1f} s")
        if not s.end_in_window:
            issues.append("end outside window")
    return issues


def _record(record: Outage, result: RunResult) -> str:
    start = (record.started_at - result.t0).total_seconds()
    end = "open" if record.ended_at is None else f"{(record.ended_at - result.t0).total_seconds():.0f}"
    return f"{record.scope_type.value}={record.entity} {record.layer.value} {start:.0f}-{end} s"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _max_abs(values: list[float | None]) -> str:
    if not values:
        return "—"
    if any(v is None for v in values):
        return "open"
    return f"{max(abs(v) for v in values if v is not None):.1f}"


def _window(sightings: list[Sighting]) -> str:
    inside = sum(s.start_in_window for s in sightings) + sum(s.end_in_window for s in sightings)
    return f"{inside}/{2 * len(sightings)}" if sightings else "—"


def _row(s: Score) -> str:
    sightings = s.sightings
    cells = [
        s.scenario, str(len(s.truths)), str(sum(t.detected for t in s.truths)), _pct(s.recall),
        f"{s.true_records + len(s.false)} ({len(s.false)})", _pct(s.precision),
        _max_abs([x.start_error_s for x in sightings]), _max_abs([x.end_error_s for x in sightings]),
        _window(sightings), _pct(s.scope_layer_right),
        ", ".join(f"{v}: {n}" for v, n in sorted(s.incidents.items())) or "—",
        "met" if s.meets_targets() else "MISSED",
    ]
    return "| " + " | ".join(cells) + " |"


def _overall(scores: Sequence[Score]) -> str:
    truths = [t for s in scores for t in s.truths]
    sightings = [x for s in scores for x in s.sightings]
    true_records = sum(s.true_records for s in scores)
    false = sum(len(s.false) for s in scores)
    detected = sum(t.detected for t in truths)
    cells = [
        "**overall**", str(len(truths)), str(detected), _pct(detected / len(truths) if truths else None),
        f"{true_records + false} ({false})",
        _pct(true_records / (true_records + false) if true_records + false else None),
        _max_abs([x.start_error_s for x in sightings]), _max_abs([x.end_error_s for x in sightings]),
        _window(sightings), _pct(sum(t.layer_right for t in truths) / len(truths) if truths else None),
        "—", f"{sum(s.meets_targets() for s in scores)}/{len(scores)} met",
    ]
    return "| " + " | ".join(cells) + " |"
