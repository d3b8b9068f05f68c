"""Validated shapes shared by config and catalogs: durations, target ids, labels, catalog files.

Every model is frozen and rejects unknown keys. Durations are seconds (``float``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from netwatch.catalog.regions import KZ_REGIONS
from netwatch.model import Labels, NetworkType, Role
from probes import PROBES

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h)?")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
TARGET_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$"
HOST_PATTERN = r"^[A-Za-z0-9._:-]+$"


def parse_duration(value: object) -> float:
    """Seconds from a number (seconds) or a string ``500ms``, ``30s``, ``5m``, ``1h`` (bare = s)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError(
            f"invalid duration {value!r}: use seconds (30) or a number with a unit (500ms, 30s, 5m, 1h)"
        )
    if seconds < 0:
        raise ValueError(f"invalid duration {value!r}: must not be negative")
    return seconds


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds == 0:
        raise ValueError("duration must be more than zero")
    return seconds


def format_duration(seconds: float) -> str:
    """``90.0`` → ``90s``; used in messages so they echo the config's own units."""
    return f"{seconds:g}s"


Duration = Annotated[float, BeforeValidator(_positive_duration)]
"""A duration in seconds, more than zero."""
NonNegativeDuration = Annotated[float, BeforeValidator(parse_duration)]
"""A duration in seconds, zero allowed."""
TargetId = Annotated[str, Field(pattern=TARGET_ID_PATTERN)]


class LabelsModel(BaseModel):
    """A target's labels (see ``netwatch.model.Labels``). ``region`` must be an ISO 3166-2 code of
    ``country``; for Kazakhstan, one of ``KZ_REGIONS``. ``asn`` accepts a number or digits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str = Field(default="", pattern=r"^([A-Z]{2})?$")
    region: str = ""
    asn: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v)] = Field(
        default="", pattern=r"^([0-9]{1,10})?$"
    )
    operator: str = ""
    network_type: NetworkType = NetworkType.UNKNOWN
    category: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9-]*)?$")
    role: Role = Role.SUBJECT

    @field_validator("region")
    @classmethod
    def _region_of_country(cls, region: str, info: ValidationInfo) -> str:
        country = info.data.get("country", "")
        if not region:
            return region
        if country == "KZ" and region not in KZ_REGIONS:
            raise ValueError(
                f"'{region}' is not an ISO 3166-2:KZ region code (valid: {', '.join(KZ_REGIONS)})"
            )
        if not re.fullmatch(r"[A-Z]{2}-[A-Z0-9]{1,3}", region) or not region.startswith(f"{country}-"):
            raise ValueError(f"'{region}' is not an ISO 3166-2 code of country '{country or '?'}'")
        return region

    def to_labels(self) -> Labels:
        return Labels(
            country=self.country,
            region=self.region,
            asn=self.asn,
            operator=self.operator,
            network_type=self.network_type,
            category=self.category,
            role=self.role,
        )


def check_kind(kind: str) -> str:
    """The kind if ``probes.PROBES`` has it; otherwise a ``ValueError`` naming the known kinds."""
    if kind not in PROBES:
        raise ValueError(f"unknown probe kind '{kind}' (known: {', '.join(sorted(PROBES))})")
    return kind


class EntryModel(BaseModel):
    """One catalog entry: a host probed with one or more kinds, each becoming target ``<id>/<kind>``.

    ``id`` defaults to ``host``. ``params`` overrides the parameters derived from the host, per
    kind (``dns``: ``name``; ``http``: ``url`` ``https://<host>/``; ``tcp``: ``host``, port 443).
    ``source`` says where the fact comes from; ``verify`` marks an unconfirmed entry.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: TargetId | None = None
    host: str = Field(pattern=HOST_PATTERN)
    probes: tuple[Annotated[str, BeforeValidator(check_kind)], ...] = Field(min_length=1)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    labels: LabelsModel = LabelsModel()
    source: str = ""
    note: str = ""
    verify: bool = False

    @model_validator(mode="after")
    def _params_for_listed_probes(self) -> EntryModel:
        extra = sorted(set(self.params) - set(self.probes))
        if extra:
            raise ValueError(f"params given for kinds not in probes: {', '.join(extra)}")
        return self


class CatalogFileModel(BaseModel):
    """A catalog file: ``labels`` are defaults merged under every entry's own labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    labels: LabelsModel = LabelsModel()
    entries: tuple[EntryModel, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _merge_default_labels(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("labels"), dict):
            return data
        entries = data.get("entries")
        if not isinstance(entries, list):
            return data
        merged = [
            {**entry, "labels": {**data["labels"], **(entry.get("labels") or {})}}
            if isinstance(entry, dict) and isinstance(entry.get("labels") or {}, dict)
            else entry
            for entry in entries
        ]
        return {**data, "entries": merged}
