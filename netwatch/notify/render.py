"""Outage events → one human message (title, body) in one language. Pure: no I/O, no clock.

A message covers every event of one group window: events about the same outage collapse into one
block (its latest record, every reason in order), national outages first, at most ``MAX_BLOCKS``
blocks. Times are shown in UTC and in ``Asia/Almaty`` (``netwatch.timefmt``), with the start's and
end's uncertainty windows (see ``netwatch.model.Outage``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from netwatch.model import Outage, OutageChange, OutageEvent, ScopeType
from netwatch.notify.settings import Language
from netwatch.notify.text import PHRASES, Phrases
from netwatch.timefmt import LOCAL_ZONE_NAME, human_duration, local_text, utc_text

MAX_BLOCKS = 10
"""Outages described in full in one message; the rest are counted (chat services cap length)."""


class Severity(StrEnum):
    """Apprise's notify types, so receivers can colour messages."""

    INFO = "info"
    SUCCESS = "success"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Message:
    """A rendered message; ``body`` is plain text."""

    title: str
    body: str
    severity: Severity


@dataclass(frozen=True, slots=True)
class _Block:
    outage: Outage
    at: datetime  # the latest event's decision time
    changes: tuple[OutageChange, ...]
    reasons: tuple[str, ...]

    @property
    def change(self) -> OutageChange:
        """What the block announces: ended if it ended, else began if it began in this message
        (a later update in the same window does not hide the start), else an update."""
        for change in (OutageChange.CLOSED, OutageChange.OPENED):
            if change in self.changes:
                return change
        return OutageChange.UPDATED


def _blocks(events: Sequence[OutageEvent]) -> list[_Block]:
    by_outage: dict[str, list[OutageEvent]] = {}
    for event in sorted(events, key=lambda e: e.at):
        by_outage.setdefault(event.outage.id, []).append(event)
    blocks = [
        _Block(
            group[-1].outage,
            group[-1].at,
            tuple(e.change for e in group),
            # The ledger joins several reasons of one event with ", ".
            tuple(dict.fromkeys(part for e in group for part in e.reason.split(", "))),
        )
        for group in by_outage.values()
    ]
    return sorted(blocks, key=lambda b: b.outage.scope_type is not ScopeType.COUNTRY)  # stable


def _scope(p: Phrases, outage: Outage) -> str:
    text = p.scope[outage.scope_type].format(outage.entity)
    return f"{text} ({p.national})" if outage.scope_type is ScopeType.COUNTRY else text


def _headline(p: Phrases, block: _Block) -> str:
    outage = block.outage
    change = block.change
    if outage.layer.about_vantage:
        return f"{p.vantage_change[change]}: {_scope(p, outage)}"
    return f"{p.change[change]}: {_scope(p, outage)} — {p.layer[outage.layer]}"


def _moment(moment: datetime) -> str:
    return f"{utc_text(moment)} · {LOCAL_ZONE_NAME} {local_text(moment)}"


def _window(p: Phrases, moment: datetime, earliest: datetime | None) -> str:
    if earliest is None or earliest >= moment:
        return _moment(moment)
    width = human_duration((moment - earliest).total_seconds())
    return f"{_moment(moment)} ({p.uncertainty.format(width)}, {p.earliest.format(utc_text(earliest))})"


def _duration(p: Phrases, block: _Block) -> str:
    outage = block.outage
    if outage.ended_at is None:
        return f"{human_duration((block.at - outage.started_at).total_seconds())} {p.so_far}"
    text = human_duration((outage.ended_at - outage.started_at).total_seconds())
    longest = outage.ended_at - (outage.start_earliest or outage.started_at)
    shortest = (outage.end_earliest or outage.ended_at) - outage.started_at
    if longest == shortest:
        return text
    low, high = human_duration(max(shortest.total_seconds(), 0.0)), human_duration(longest.total_seconds())
    return f"{text} ({p.between.format(low, high)})"


def _block_text(p: Phrases, block: _Block) -> str:
    outage = block.outage
    lines = [f"■ {_headline(p, block)}"]
    if outage.layer.about_vantage:
        lines.append(p.vantage_note)
    lines.append(f"{p.start}: {_window(p, outage.started_at, outage.start_earliest)}")
    ended = outage.ended_at
    lines.append(f"{p.end}: {p.ongoing if ended is None else _window(p, ended, outage.end_earliest)}")
    lines.append(f"{p.duration}: {_duration(p, block)}")
    lost = round(outage.fraction * 100)
    lines.append(p.counts.format(outage.targets_affected, outage.vantages_affected, lost))
    lines.append(f"{p.why}: {'; '.join(p.reason.get(r, r) for r in block.reasons)}")
    lines.append(f"{outage.id} · {outage.incident_id}")
    return "\n".join(lines)


def _severity(blocks: Sequence[_Block]) -> Severity:
    if any(b.outage.is_open and not b.outage.layer.about_vantage for b in blocks):
        return Severity.FAILURE
    if all(not b.outage.is_open for b in blocks):
        return Severity.SUCCESS
    return Severity.INFO


def render_events(events: Sequence[OutageEvent], language: Language, ref: str) -> Message:
    """One message announcing ``events`` (at least one). ``ref`` (an idempotency key) ends the body
    so a person or a bot can recognise a message delivered twice."""
    if not events:
        raise ValueError("render_events needs at least one event")
    p = PHRASES[language]
    blocks = _blocks(events)
    if len(blocks) == 1:
        title = f"netwatch · {_headline(p, blocks[0])}"
    else:
        counts = [sum(b.change is c for b in blocks) for c in OutageChange]
        parts = [fmt.format(n) for fmt, n in zip(p.opened_updated_closed, counts, strict=True) if n]
        title = f"{p.digest_title.format(len(blocks))} ({', '.join(parts)})"
    texts = [_block_text(p, b) for b in blocks[:MAX_BLOCKS]]
    if len(blocks) > MAX_BLOCKS:
        texts.append(p.more.format(len(blocks) - MAX_BLOCKS))
    texts.append(f"{p.ref}: {ref}")
    return Message(title, "\n\n".join(texts), _severity(blocks))


def render_test(name: str, language: Language, now: datetime) -> Message:
    """The ``netwatch notify test`` message for destination ``name``."""
    p = PHRASES[language]
    body = f"{p.test_body.format(name)}\n{p.sent}: {_moment(now)}"
    return Message(p.test_title, body, Severity.INFO)
