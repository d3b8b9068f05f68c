"""The config file's schema as frozen pydantic models that reject unknown keys.

Field docs live in ``docs/configuration.md``; keep both in step. Durations are seconds (numbers or
``30s``/``5m``/``1h`` strings). Cross-field rules that need more than one model (resolver
fill-in, duplicate ids, catalog loading) are applied in ``netwatch.config``.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from netwatch.catalog import builtin_names
from netwatch.catalog.schema import (
    Duration,
    LabelsModel,
    NonNegativeDuration,
    TargetId,
    check_kind,
    format_duration,
)
from netwatch.config_errors import suggest
from netwatch.detect.thresholds import Thresholds
from netwatch.egress import LOOPBACK
from netwatch.model import Position
from netwatch.notify.settings import Notifications
from probes.dnsquery import ResolverSpec

DEFAULT_USER_AGENT = "netwatch/0.1 (+https://github.com/netwatch/netwatch)"


def _check_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"not a network in CIDR notation: {value!r}") from None


def _check_ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"not an IP address: {value!r}") from None


Cidr = Annotated[str, AfterValidator(_check_cidr)]
IpAddress = Annotated[str, AfterValidator(_check_ip)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VantageModel(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    position: Position


class ListenModel(_Strict):
    address: IpAddress = "127.0.0.1"
    port: int = Field(default=9784, ge=1, le=65535)


class FingerprintModel(_Strict):
    """A block page: matches when every condition given holds (see ``BlockpageFingerprint``)."""

    name: str = Field(min_length=1)
    body_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    body_contains: str | None = Field(default=None, min_length=1)
    status: int | None = Field(default=None, ge=100, le=599)
    header: str | None = Field(default=None, min_length=1)
    header_contains: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _has_a_condition(self) -> FingerprintModel:
        if self.header_contains is not None and self.header is None:
            raise ValueError("header_contains needs header (the header's name)")
        if all(v is None for v in (self.body_sha256, self.body_contains, self.status, self.header)):
            raise ValueError("a fingerprint needs at least one of body_sha256, body_contains, status, header")
        return self


class BlockpagesModel(_Strict):
    addresses: tuple[IpAddress, ...] = ()
    fingerprints: tuple[FingerprintModel, ...] = ()


class ProbingModel(_Strict):
    interval: Duration = 60.0
    timeout: Duration = 10.0
    jitter: NonNegativeDuration = 5.0
    concurrency: int = Field(default=64, ge=1, le=4096)
    ca_file: str | None = None
    bogon_exempt_networks: tuple[Cidr, ...] = ()
    user_agent: str = Field(default=DEFAULT_USER_AGENT, min_length=1)
    blockpages: BlockpagesModel = BlockpagesModel()

    @field_validator("timeout")
    @classmethod
    def _timeout_within_interval(cls, timeout: float, info: ValidationInfo) -> float:
        interval = info.data.get("interval")
        if interval is not None and timeout > interval:
            raise ValueError(
                f"timeout {format_duration(timeout)} is longer than the interval {format_duration(interval)}"
            )
        return timeout


class CatalogSourceModel(_Strict):
    """One ``catalogs`` item: a built-in name (written as a plain string), a Citizen Lab test-list
    CSV (``citizenlab``, with ``country`` and ``category_map``), or a catalog file (``file``)."""

    name: str | None = None
    citizenlab: str | None = Field(default=None, min_length=1)
    file: str | None = Field(default=None, min_length=1)
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    category_map: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _name_shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"name": data}
        if not isinstance(data, dict):
            raise ValueError("expected a built-in catalog name or a mapping with 'citizenlab' or 'file'")
        return data

    @model_validator(mode="after")
    def _one_source(self) -> CatalogSourceModel:
        given = [key for key in ("name", "citizenlab", "file") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of a built-in name, 'citizenlab' or 'file'")
        if self.citizenlab is None and (self.country is not None or self.category_map):
            raise ValueError("'country' and 'category_map' apply to 'citizenlab' sources only")
        names = builtin_names()
        if self.name is not None and self.name not in names:
            raise ValueError(
                f"unknown catalog '{self.name}'{suggest(self.name, names)} (built-in: {', '.join(names)})"
            )
        return self


class TargetModel(_Strict):
    """A user target. ``params`` are checked against ``probes.PROBES[kind].params`` later, so
    their errors can name the kind's own fields."""

    id: TargetId
    kind: Annotated[str, AfterValidator(check_kind)]
    interval: Duration | None = None
    timeout: Duration | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    labels: LabelsModel = LabelsModel()
    source: str = ""
    note: str = ""


class RetentionModel(_Strict):
    """How long raw measurements are kept (outage evidence stays with its outage), and how often
    expired ones are deleted."""

    measurements_days: int = Field(default=30, ge=1)
    interval: Duration = 86_400.0


class ConfigModel(_Strict):
    vantage: VantageModel
    allowed_networks: tuple[Cidr, ...] = LOOPBACK
    listen: ListenModel = ListenModel()
    data_dir: str = Field(default="netwatch-data", min_length=1)
    measurements_out: str | None = Field(default=None, min_length=1)
    probing: ProbingModel = ProbingModel()
    resolvers: tuple[ResolverSpec, ...] = ()
    catalogs: tuple[CatalogSourceModel, ...] = ()
    targets: tuple[TargetModel, ...] = ()
    detection: Thresholds = Thresholds()
    retention: RetentionModel = RetentionModel()
    notifications: Notifications = Notifications()
