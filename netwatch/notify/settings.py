"""The ``notifications:`` config section: destinations (Apprise URLs), grouping, rate limit and
maintenance windows. Frozen pydantic models that reject unknown keys (errors are reported by
``netwatch.config`` as ``FILE:LINE: notifications.key.path: reason``); documented in
``docs/configuration.md``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from netwatch.catalog.schema import Duration, NonNegativeDuration
from netwatch.model import Outage, ScopeType, parse_utc


class Language(StrEnum):
    """Languages messages are written in. Kazakh is a draft awaiting a native speaker's review."""

    EN = "en"
    RU = "ru"
    KK = "kk"


def _check_apprise_url(url: str) -> str:
    import apprise  # noqa: PLC0415  (imported only where destinations are used: ~0.2 s)

    if apprise.Apprise.instantiate(url.strip()) is None:
        # Name the scheme only: the rest of a notification URL usually holds a token.
        scheme = url.split("://", 1)[0] if "://" in url else url[:0]
        named = f"scheme '{scheme}'" if scheme else "no scheme"
        raise ValueError(f"not a notification URL Apprise understands ({named}; see the Apprise URL list)")
    return url.strip()


def _aware_utc(value: object) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("time without a zone: add Z or an offset such as +05:00")
        return value.astimezone(UTC)
    if isinstance(value, str):
        try:
            return parse_utc(value.strip())
        except ValueError:
            raise ValueError(
                f"invalid time {value!r}: use ISO 8601 with a zone, e.g. 2025-01-05T10:30:00Z"
            ) from None
    raise ValueError(f"invalid time {value!r}: use ISO 8601 with a zone, e.g. 2025-01-05T10:30:00Z")


def _check_scope(value: str) -> str:
    scope, _, entity = value.partition(":")
    names = [s.value for s in ScopeType]
    if scope not in names:
        raise ValueError(f"unknown scope '{scope}' (valid: {', '.join(names)}; optionally ':<entity>')")
    if ":" in value and not entity:
        raise ValueError(f"'{value}': name the entity after ':' or leave ':' out")
    return value


AppriseUrl = Annotated[str, Field(min_length=1), AfterValidator(_check_apprise_url)]
AwareTime = Annotated[datetime, BeforeValidator(_aware_utc)]
ScopeSelector = Annotated[str, AfterValidator(_check_scope)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Destination(_Strict):
    """One receiver. ``name`` (default ``dest<N>``, set by ``Notifications``) labels logs and metrics;
    the URL itself never appears in either, as it usually carries a token."""

    url: AppriseUrl
    language: Language = Language.EN
    name: str = Field(default="", pattern=r"^$|^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

    @property
    def key(self) -> str:
        """A stable id for this URL (it survives reordering and renaming of destinations)."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]


class RateLimit(_Strict):
    """At most ``messages`` messages per destination in any ``period`` seconds; events arriving
    meanwhile wait and go out together in the next message."""

    messages: int = Field(default=10, ge=1)
    period: Duration = 3600.0


class Maintenance(_Strict):
    """While ``start <= event time < end``, events whose outage matches one of ``scopes`` (all
    events when empty) are not sent; the suppression is recorded with ``reason``."""

    start: AwareTime
    end: AwareTime
    scopes: tuple[ScopeSelector, ...] = ()
    reason: str = "maintenance window"

    @model_validator(mode="after")
    def _ends_after_start(self) -> Maintenance:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self

    def covers(self, at: datetime, outage: Outage) -> bool:
        """True if an event about ``outage`` decided at ``at`` falls in this window."""
        if not self.start <= at < self.end:
            return False
        return not self.scopes or any(_matches(s, outage) for s in self.scopes)


def _matches(selector: str, outage: Outage) -> bool:
    scope, _, entity = selector.partition(":")
    return scope == outage.scope_type.value and (not entity or entity == outage.entity)


class Notifications(_Strict):
    """The ``notifications:`` section. No destinations: the notifier does not run and queued
    events stay in the outbox (``netwatch_notification_outbox_backlog`` shows them)."""

    destinations: tuple[Destination, ...] = ()
    group_window: NonNegativeDuration = 30.0
    rate_limit: RateLimit = RateLimit()
    maintenance: tuple[Maintenance, ...] = ()

    @model_validator(mode="after")
    def _names(self) -> Notifications:
        named = tuple(
            d if d.name else d.model_copy(update={"name": f"dest{i}"})
            for i, d in enumerate(self.destinations)
        )
        seen: set[str] = set()
        for d in named:
            if d.name in seen:
                raise ValueError(f"destination name '{d.name}' is used twice")
            seen.add(d.name)
        if len({d.key for d in named}) != len(named):
            raise ValueError("the same destination URL is listed twice")
        object.__setattr__(self, "destinations", named)  # frozen model: fill defaults once, here
        return self

    def suppression(self, at: datetime, outage: Outage) -> Maintenance | None:
        """The first maintenance window covering an event about ``outage`` at ``at``, if any."""
        return next((m for m in self.maintenance if m.covers(at, outage)), None)
