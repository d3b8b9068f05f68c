"""The fault vocabulary of scenario files: one pydantic model per kind, tagged by ``kind``.

Every fault has ``at`` (scenario seconds), optional ``until`` (default: the end of the run), an
optional ``id`` and an optional ``flap`` (switch on and off in cycles while active). Targets are
``Select`` selectors in topology vocabulary; a backend turns them into addresses or servers.

Kinds (what a subscriber-side probe should see):

- ``cut``: packets to and from the selected networks (or sites) silently dropped -> timeouts;
  ``spare_dns: true`` keeps DNS (port 53) working while everything else is cut.
- ``gateway_cut``: the international gateway drops everything crossing the border.
- ``throttle``: ``rate_kbit`` and/or ``delay_ms`` and/or ``loss_pct`` on the selected networks.
- ``loss``: random packet loss of ``percent`` on the selected networks or sites (noise, flakiness).
- ``dns``: the operator resolvers of ``resolvers`` answer ``mode`` (timeout, servfail, nxdomain,
  refused, bogon) for the names of ``names`` (every name when empty).
- ``http_block``: inside clients get a block page instead of the selected sites over HTTP, and a
  reset over HTTPS.
- ``tls_intercept``: inside clients get a certificate from the rogue root for the selected sites.
- ``allow_list``: only the ``allow`` sites stay reachable (DNS too unless ``keep_dns: false``).
- ``vantage_offline``: the named vantage's own uplink dies (its packets are dropped).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from netwatch.lab.topology import Selector
from netwatch.model import NetworkType, Position


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Lists(_Strict):
    """A model of list fields, each of which a single value may stand for (``regions: KZ-47``)."""

    @field_validator("*", mode="before")
    @classmethod
    def _listify(cls, value: object) -> object:
        return (value,) if isinstance(value, str | int) else value


class Select(_Lists):
    """A selector in file form (see ``netwatch.lab.topology.Selector``). Every field is a list, or a
    single value; an empty target selects every network inside the country."""

    networks: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    asns: tuple[str, ...] = ()
    network_types: tuple[NetworkType, ...] = ()
    positions: tuple[Position, ...] = (Position.INSIDE,)
    hosts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def selector(self) -> Selector:
        return Selector(**self.model_dump())


class Flap(_Strict):
    """While the fault is active: ``down_s`` seconds applied, then ``up_s`` seconds cleared, repeated."""

    down_s: float = Field(gt=0)
    up_s: float = Field(gt=0)


class _FaultBase(_Strict):
    id: str = Field(default="", pattern=r"^$|^[a-z0-9][a-z0-9_-]*$")
    at: float = Field(ge=0)
    until: float | None = None
    flap: Flap | None = None
    note: str = ""

    @model_validator(mode="after")
    def _window(self) -> _FaultBase:
        if self.until is not None and self.until <= self.at:
            raise ValueError(f"until ({self.until}) must be after at ({self.at})")
        return self


class Cut(_FaultBase):
    kind: Literal["cut"]
    target: Select = Select()
    spare_dns: bool = False


class GatewayCut(_FaultBase):
    kind: Literal["gateway_cut"]


class Throttle(_FaultBase):
    kind: Literal["throttle"]
    target: Select = Select()
    rate_kbit: int | None = Field(default=None, ge=8)
    delay_ms: int | None = Field(default=None, ge=1, le=10_000)
    loss_pct: int | None = Field(default=None, ge=1, le=99)

    @model_validator(mode="after")
    def _something(self) -> Throttle:
        if self.rate_kbit is None and self.delay_ms is None and self.loss_pct is None:
            raise ValueError("a throttle needs rate_kbit, delay_ms or loss_pct")
        if self.rate_kbit is not None and self.target.selector().by_site:
            raise ValueError("rate_kbit applies to whole networks: drop hosts/categories from the target")
        return self


class Loss(_FaultBase):
    kind: Literal["loss"]
    target: Select = Select()
    percent: int = Field(ge=1, le=99)


DnsMode = Literal["timeout", "servfail", "nxdomain", "refused", "bogon"]


class Names(_Lists):
    """Which names a DNS fault applies to (every name when both are empty)."""

    hosts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


class DnsTamper(_FaultBase):
    kind: Literal["dns"]
    mode: DnsMode
    resolvers: Select = Select()
    names: Names = Names()


class HttpBlock(_FaultBase):
    kind: Literal["http_block"]
    sites: Select


class TlsIntercept(_FaultBase):
    kind: Literal["tls_intercept"]
    sites: Select


class AllowList(_FaultBase):
    kind: Literal["allow_list"]
    allow: tuple[str, ...] = Field(min_length=1)
    keep_dns: bool = True


class VantageOffline(_FaultBase):
    kind: Literal["vantage_offline"]
    vantage: str


Fault = Cut | GatewayCut | Throttle | Loss | DnsTamper | HttpBlock | TlsIntercept | AllowList | VantageOffline
