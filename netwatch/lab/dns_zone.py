"""What the lab DNS server answers: a record table, the faults in force, and the reply to a query.

Transport-free (the server in ``dns_server`` owns sockets and timing); thread-safe, so tests and
scenarios can change records and faults while the server answers. Replies are cached by query
bytes minus the message id until the records or faults change: parsing and rendering every
query with dnspython costs ~70 us, a cache hit well under 1 us, and a benchmark sends hundreds
of identical questions per second.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

__all__ = ["DnsFault", "FaultyZone", "Reply"]

_TTL = 300
_UDP_PLAIN_LIMIT = 512  # RFC 1035 limit for a UDP reply when the query carries no EDNS
_CACHE_LIMIT = 4096
# Header with QR set, claiming 65535 records in every section, then a few stray bytes: no parser
# can read it, which is the point.
_GARBAGE = b"\x84\x00" + b"\xff\xff" * 4 + b"\x07netwatch"


class DnsFault(StrEnum):
    """How the server treats a query for a name (or for every name)."""

    ANSWER = "answer"  # answer from the record table
    TIMEOUT = "timeout"  # read the query, never reply
    SERVFAIL = "servfail"
    NXDOMAIN = "nxdomain"
    REFUSED = "refused"
    TRUNCATE = "truncate"  # UDP: TC bit and no answers; TCP: the full answer
    BOGON = "bogon"  # A/AAAA answered with the bogon address (known name or not); others normal
    GARBAGE = "garbage"  # reply with bytes no DNS parser accepts
    SLOW = "slow"  # the normal answer, ``delay_s`` seconds late


_RCODE_FAULTS = {
    DnsFault.SERVFAIL: dns.rcode.SERVFAIL,
    DnsFault.NXDOMAIN: dns.rcode.NXDOMAIN,
    DnsFault.REFUSED: dns.rcode.REFUSED,
}


class Reply(NamedTuple):
    """What to send for one query, ``delay_s`` seconds from now: ``tail`` is the reply without its
    two-byte message id, which the sender copies from the query."""

    delay_s: float
    tail: bytes


class FaultyZone:
    """Records and faults. ``bogon_address`` is the A answer under ``DnsFault.BOGON`` (AAAA gets it
    too when it is IPv6, else ``::``); ``delay_s`` is how late ``DnsFault.SLOW`` replies are."""

    def __init__(self, bogon_address: str = "0.0.0.0", delay_s: float = 0.0) -> None:
        bogon = ipaddress.ip_address(bogon_address)
        self._bogons = {
            dns.rdatatype.A: "0.0.0.0" if bogon.version == 6 else str(bogon),
            dns.rdatatype.AAAA: str(bogon) if bogon.version == 6 else "::",
        }
        self._delay_s = delay_s
        self._lock = threading.Lock()
        # dns.name.Name compares and hashes case-insensitively, so these lookups are too.
        self._records: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], list[dns.rdata.Rdata]] = {}
        self._names: set[dns.name.Name] = set()
        self._faults: dict[dns.name.Name | None, DnsFault] = {}
        self._cache: dict[tuple[bool, bytes], Reply | None] = {}

    def set_fault(self, fault: DnsFault, name: str | None = None) -> None:
        """Apply ``fault`` to ``name``, or to every name when ``name`` is None. A fault set for a
        name wins over the every-name fault."""
        key = None if name is None else dns.name.from_text(name)
        with self._lock:
            self._faults[key] = fault
            self._cache.clear()

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._cache.clear()

    def set_records(self, name: str, rtype: str, values: Sequence[str]) -> None:
        """Replace the ``rtype`` records of ``name`` (presentation format; names in values are
        taken as absolute); an empty ``values`` removes them. Raises ``dns.exception.SyntaxError``
        on a bad value."""
        owner = dns.name.from_text(name)
        rdtype = dns.rdatatype.from_text(rtype)
        rdatas = [
            dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=dns.name.root, relativize=False)
            for value in values
        ]
        with self._lock:
            if rdatas:
                self._records[(owner, rdtype)] = rdatas
            else:
                self._records.pop((owner, rdtype), None)
            self._names = {known for known, _ in self._records}
            self._cache.clear()

    def reply(self, wire: bytes, tcp: bool) -> Reply | None:
        """The reply to query ``wire`` arriving over TCP or UDP; None means send nothing."""
        key = (tcp, wire[2:])
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            reply = self._decide(wire, tcp)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = reply
            return reply

    def _decide(self, wire: bytes, tcp: bool) -> Reply | None:
        """The reply under the current records and faults (the caller holds the lock)."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None  # a resolver drops what it cannot parse
        if not query.question:
            return _render(query, dns.rcode.FORMERR, tcp)
        question = query.question[0]
        fault = self._faults.get(question.name, self._faults.get(None, DnsFault.ANSWER))
        if fault is DnsFault.TIMEOUT:
            return None
        if fault is DnsFault.GARBAGE:
            return Reply(0.0, _GARBAGE)
        if fault in _RCODE_FAULTS:
            return _render(query, _RCODE_FAULTS[fault], tcp)
        if fault is DnsFault.TRUNCATE and not tcp:
            return _render(query, dns.rcode.NOERROR, tcp, truncated=True)
        name, rdtype = question.name, question.rdtype
        rdatas = self._records.get((name, rdtype), [])
        if fault is DnsFault.BOGON and rdtype in self._bogons:
            rdatas = [dns.rdata.from_text(dns.rdataclass.IN, rdtype, self._bogons[rdtype])]
        elif not rdatas and name not in self._names:
            return _render(query, dns.rcode.NXDOMAIN, tcp)
        answer = [dns.rrset.from_rdata_list(name, _TTL, rdatas)] if rdatas else []
        reply = _render(query, dns.rcode.NOERROR, tcp, answer=answer)
        return reply._replace(delay_s=self._delay_s) if fault is DnsFault.SLOW else reply


def _render(
    query: dns.message.Message,
    rcode: dns.rcode.Rcode,
    tcp: bool,
    *,
    answer: list[dns.rrset.RRset] | None = None,
    truncated: bool = False,
) -> Reply:
    """A response to ``query``; over UDP, one too big for the client's buffer is sent truncated
    (TC set, no answers) so the client retries over TCP, as RFC 1035 prescribes."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA
    response.set_rcode(rcode)
    if truncated:
        response.flags |= dns.flags.TC
    else:
        response.answer = answer or []
    limit = 65535 if tcp else max(query.payload, _UDP_PLAIN_LIMIT)
    try:
        return Reply(0.0, response.to_wire(max_size=limit)[2:])
    except dns.exception.TooBig:
        response.answer = []
        response.flags |= dns.flags.TC
        return Reply(0.0, response.to_wire()[2:])
