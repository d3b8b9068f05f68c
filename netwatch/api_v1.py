"""``/api/v1``: read-only HTTP access to outages and measurements (GET only).

Every query parameter is validated by FastAPI/pydantic types; what types cannot catch (a range too
long, a bad cursor, a time out of range) is a 400 with a message, an unknown id a 404, so input
never causes a 5xx. Times out are ISO 8601 UTC with ``Z`` plus ``*_local`` in Asia/Almaty.
Documented in ``docs/api.md``; the OpenAPI document is served at ``/openapi.json``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import AwareDatetime, BaseModel, BeforeValidator

from netwatch.export import ExportFormat, measurement_text
from netwatch.export.rows import OUTAGE_COLUMNS, iter_outages, outage_flat, outage_record
from netwatch.export.text import csv_text
from netwatch.model import Layer, Outage, ScopeType, format_utc
from netwatch.store import OutageFilter, Store
from netwatch.timefmt import local_iso

MAX_MEASUREMENT_RANGE = timedelta(days=31)
"""Longest ``until - since`` one ``/measurements`` request may stream; export for more."""
STATUS_MAX_OUTAGES = 1000
"""Open outages listed by ``/status`` at most (counts stay exact up to this many)."""


class OutageOut(BaseModel):
    """An outage: times in UTC (``Z``) and Asia/Almaty (``*_local``); seconds for durations."""

    id: str
    incident_id: str
    scope_type: ScopeType
    entity: str
    layer: Layer
    started_at: str
    started_at_local: str
    start_earliest: str | None
    start_earliest_local: str | None
    ended_at: str | None
    ended_at_local: str | None
    end_earliest: str | None
    end_earliest_local: str | None
    open: bool
    duration_s: float
    start_uncertainty_s: float | None
    end_uncertainty_s: float | None
    severity: float
    fraction: float
    targets_affected: int
    vantages_affected: int
    method: str
    evidence: list[str]


class OutagePageOut(BaseModel):
    """Newest first; pass ``next_cursor`` as ``cursor`` for the next page (null on the last)."""

    outages: list[OutageOut]
    next_cursor: str | None


class EvidenceOut(BaseModel):
    """One measurement an outage cites: where, what, when, and how it failed (null = success)."""

    id: str
    target_id: str
    kind: str
    vantage_id: str
    started_at: str
    started_at_local: str
    failure: str | None
    duration_s: float


class OutageDetailOut(BaseModel):
    """An outage with its evidence; ``evidence_missing`` lists cited ids no longer stored."""

    outage: OutageOut
    evidence: list[EvidenceOut]
    evidence_missing: list[str]


class ScopeStatusOut(BaseModel):
    scope_type: ScopeType
    open_outages: int
    by_layer: dict[str, int]
    outages: list[OutageOut]


class StatusOut(BaseModel):
    """Open outages grouped by scope type (every scope type listed, quiet ones with 0)."""

    as_of: str
    as_of_local: str
    open_outages: int
    truncated: bool
    scopes: list[ScopeStatusOut]


class ErrorOut(BaseModel):
    detail: str


class TableFormat(StrEnum):
    JSON = "json"
    CSV = "csv"


class StreamFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


_RFC3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")


def _rfc3339(value: object) -> object:
    """Only RFC 3339 date-time text, as the OpenAPI document says (pydantic alone would also take
    ``0.5`` as epoch seconds)."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError("expected an RFC 3339 date-time with a zone, e.g. 2022-01-05T10:30:00Z")
    return value


Time = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]
"""A query time: RFC 3339 with ``Z`` or an offset; anything else is a 422."""

ERRORS: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOut, "description": "Invalid input"}}
CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}
NDJSON_CONTENT = {"application/x-ndjson": {"schema": {"type": "string"}}}


def _utc(moment: datetime | None, name: str) -> datetime | None:
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise HTTPException(400, f"{name}: time out of range") from None


def _wants_csv(fmt: StrEnum | None, request: Request) -> bool:
    """``format=csv``, or no ``format`` and an Accept header preferring CSV over JSON."""
    if fmt is not None:
        return fmt.value == "csv"
    accept = request.headers.get("accept", "")
    return "text/csv" in accept and "application/json" not in accept


def build_router(store: Store, clock: Callable[[], datetime]) -> APIRouter:
    """The ``/api/v1`` routes reading ``store``; ``clock()`` (aware UTC) dates ``/status`` and the
    duration of open outages."""
    router = APIRouter(prefix="/api/v1", tags=["api/v1"])

    def out(outage: Outage) -> OutageOut:
        return OutageOut.model_validate(outage_record(outage, clock))

    @router.get("/status", response_model=StatusOut, summary="Open outages per scope")
    def status() -> StatusOut:
        now = clock()
        opened = iter_outages(store, OutageFilter(open_only=True), page_size=200)
        shown = [o for _, o in zip(range(STATUS_MAX_OUTAGES + 1), opened, strict=False)]
        truncated = len(shown) > STATUS_MAX_OUTAGES
        shown = shown[:STATUS_MAX_OUTAGES]
        scopes = []
        for scope in ScopeType:
            mine = [o for o in shown if o.scope_type is scope]
            layers: dict[str, int] = {}
            for o in mine:
                layers[o.layer.value] = layers.get(o.layer.value, 0) + 1
            scopes.append(ScopeStatusOut(scope_type=scope, open_outages=len(mine), by_layer=layers,
                                         outages=[out(o) for o in mine]))  # fmt: skip
        return StatusOut(as_of=format_utc(now), as_of_local=local_iso(now), open_outages=len(shown),
                         truncated=truncated, scopes=scopes)  # fmt: skip

    @router.get("/outages", response_model=OutagePageOut, summary="Outages, newest first",
                responses={**ERRORS, 200: {"content": CSV_CONTENT}})  # fmt: skip
    def outages(
        *,
        request: Request,
        response: Response,
        since: Annotated[Time | None, Query(description="Overlapping from")] = None,
        until: Annotated[Time | None, Query(description="Started before this time")] = None,
        scope: Annotated[ScopeType | None, Query(description="Scope type")] = None,
        entity: Annotated[str | None, Query(max_length=200, description="Scope member (KZ-75...)")] = None,
        layer: Annotated[Layer | None, Query()] = None,
        open: Annotated[bool, Query(description="Only outages still going on")] = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, Query(max_length=300, description="A next_cursor")] = None,
        format: Annotated[TableFormat | None, Query(description="json or csv")] = None,
    ) -> Any:
        where = OutageFilter(since=_utc(since, "since"), until=_utc(until, "until"), scope_type=scope,
                             entity=entity, layer=layer, open_only=open)  # fmt: skip
        try:
            page = store.outages(where, limit=limit, cursor=cursor)
        except (ValueError, OverflowError) as exc:
            raise HTTPException(400, f"cursor: {exc}") from None
        headers = {"X-Next-Cursor": page.next_cursor} if page.next_cursor else {}
        if _wants_csv(format, request):
            flat = [outage_flat(outage_record(o, clock)) for o in page.outages]
            return Response("".join(csv_text(OUTAGE_COLUMNS, [flat])), media_type="text/csv", headers=headers)
        response.headers.update(headers)
        return OutagePageOut(outages=[out(o) for o in page.outages], next_cursor=page.next_cursor)

    @router.get("/outages/{outage_id}", response_model=OutageDetailOut, summary="One outage and its evidence",
                responses={404: {"model": ErrorOut, "description": "No such outage"}})  # fmt: skip
    def outage(outage_id: str) -> OutageDetailOut:
        found = store.outage(outage_id)
        if found is None:
            raise HTTPException(404, f"no outage {outage_id!r}")
        stored = store.get_measurements(found.evidence)
        evidence = [
            EvidenceOut(id=m.id, target_id=m.target_id, kind=m.kind, vantage_id=m.vantage_id,
                        started_at=format_utc(m.started_at), started_at_local=local_iso(m.started_at),
                        failure=None if m.failure is None else m.failure.value, duration_s=m.duration_s)
            for m in sorted(stored.values(), key=lambda m: (m.started_at, m.id))
        ]  # fmt: skip
        missing = [i for i in found.evidence if i not in stored]
        return OutageDetailOut(outage=out(found), evidence=evidence, evidence_missing=missing)

    @router.get("/measurements", response_class=StreamingResponse, summary="Raw measurements, streamed",
                responses={**ERRORS, 200: {"content": {**NDJSON_CONTENT, **CSV_CONTENT}}})  # fmt: skip
    def measurements(
        *,
        request: Request,
        since: Annotated[Time, Query(description="From this time, included (zone required)")],
        until: Annotated[Time | None, Query(description="To, excluded")] = None,
        target: Annotated[list[str] | None, Query(max_length=100, description="Target ids")] = None,
        format: Annotated[StreamFormat | None, Query(description="jsonl or csv")] = None,
    ) -> StreamingResponse:
        start = _utc(since, "since")
        end = _utc(until, "until") or clock()
        assert start is not None
        if end - start > MAX_MEASUREMENT_RANGE:
            raise HTTPException(400, f"until - since is over {MAX_MEASUREMENT_RANGE.days} days: narrow it, "
                                     "or use `netwatch export measurements`")  # fmt: skip
        csv = _wants_csv(format, request)
        fmt = ExportFormat.CSV if csv else ExportFormat.JSONL
        pieces = measurement_text(store, start, end, fmt, targets=_targets(target))
        body = (piece.encode() for piece in pieces)
        return StreamingResponse(body, media_type="text/csv" if csv else "application/x-ndjson")

    return router


def _targets(target: Sequence[str] | None) -> Sequence[str] | None:
    return None if not target else list(dict.fromkeys(target))
