"""The loopback backend: the lab topology as real servers on 127.x addresses, faults acted out by a
relay in front of them. No root, no namespaces, no packet leaves 127.0.0.0/8.

Mapping (see ``loopback_servers``, ``loopback_relay``, ``loopback_paths``, ``loopback_agent``):

- real servers on origin addresses ``127.66.i.h``: HTTP and HTTPS per site (lab-CA certificate
  for the site's name), a resolver per resolver network and an authoritative server per zone
  network (one DNS server per vantage: answers carry that vantage's addresses), and the censor;
- each vantage sees its own copy of the address plan (``View``): inside ``127.67.i.h``, outside
  ``127.68.i.h`` (vantages in topology order), with the same three unprivileged ports standing for
  53, 80 and 443 everywhere. Every endpoint of every view is a relay listener; the relay decides,
  per vantage, what the path to the endpoint does (``loopback_paths.path_states``), so faults
  seen only from inside (block pages, interception, the gateway cut's two sides, a vantage going
  offline) are seen only by that vantage's agent;
- DNS tampering is the resolver servers' own ``DnsFault``.

What loopback cannot reproduce faithfully:

- the TCP handshake is the kernel's, on loopback: a cut makes connects time out (the relay's
  listener stops accepting with a full accept queue, so SYNs are dropped) but delay and loss start
  after it: ``connect`` is never slowed, and a lost SYN never costs its one-second retransmission;
- loss is per relayed chunk (a late chunk, ``RETRANSMIT_S``, as a retransmission would arrive),
  not per packet with real TCP recovery and congestion control; UDP datagrams are really dropped;
- a rate limit paces chunks through one shared bucket per network and direction; there is no
  queue overflow, no burst size, and the handshake is not paced;
- DNS servers do not recurse: resolvers answer from the whole topology as if every answer were
  cached (as on the namespace backend), so cutting an authoritative server spares the resolvers;
- all agents share one host: a vantage is an address plan, not a network position; "offline"
  means every path from it is dead, while the agent's own host stays up;
- ports differ from 53/80/443 (no root), so URLs and resolvers carry explicit ports.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Hashable
from pathlib import Path
from typing import cast

from netwatch.lab.loopback_agent import View
from netwatch.lab.loopback_paths import (
    CLEAR,
    DNS_PORT,
    Endpoint,
    PathState,
    dns_faults,
    endpoints,
    path_states,
)
from netwatch.lab.loopback_relay import Relay, Upstream
from netwatch.lab.loopback_servers import Origins
from netwatch.lab.pki import LabPKI
from netwatch.lab.scenario_faults import Fault
from netwatch.lab.targets import Addressing, TopologyAddressing
from netwatch.lab.topology import Topology

FIRST_VIEW_OCTET = 67
_PORT_ATTEMPTS = 5


class LoopbackBackend:
    """The ``Backend`` (``netwatch.lab.backend``) on loopback. ``addressing`` is the topology's own
    plan: agent configs are written in it and moved into the vantage's view by ``agent_prefix``
    (or ``view(...).localize`` for in-process agents)."""

    name = "loopback"

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.views = {v.id: FIRST_VIEW_OCTET + i for i, v in enumerate(topology.vantages)}
        self.active: dict[str, Fault] = {}
        self.origins: Origins | None = None
        self._ports: dict[int, int] = {}
        self._relay: Relay | None = None
        self._workdir: Path | None = None
        self._states: dict[str, dict[Endpoint, PathState]] = {}

    # -- Backend ---------------------------------------------------------------------------------

    def up(self) -> None:
        if self._workdir is not None:
            raise RuntimeError("the loopback lab is already up")
        self._workdir = Path(tempfile.mkdtemp(prefix="nwloop-"))
        try:
            pki = LabPKI()
            pki.write_ca_file(self.ca_file)
            movers = {vantage: View(octet, {}).address for vantage, octet in self.views.items()}
            self.origins = Origins(self.topology, pki, movers).start()
            self._listen()
            self._sync()
        except BaseException:
            self.down()
            raise

    def down(self) -> None:
        """Stop the relay and every server, remove the CA file; idempotent."""
        if self._relay is not None:
            self._relay.close()
            self._relay = None
        if self.origins is not None:
            self.origins.stop()
            self.origins = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self.active.clear()
        self._states = {}

    def apply(self, fault_id: str, fault: Fault) -> None:
        self.active[fault_id] = fault
        self._sync()

    def clear(self, fault_id: str) -> None:
        if self.active.pop(fault_id, None) is not None:
            self._sync()

    @property
    def addressing(self) -> Addressing:
        return TopologyAddressing(self.topology)

    def agent_prefix(self, vantage_id: str) -> list[str]:
        return [sys.executable, "-m", "netwatch.lab.loopback_agent", *self.view(vantage_id).argv(), "--"]

    @property
    def allowed_networks(self) -> tuple[str, ...]:
        return tuple(View(octet, {}).network for octet in self.views.values())

    @property
    def ca_file(self) -> str:
        if self._workdir is None:
            raise RuntimeError("the loopback lab is not up")
        return str(self._workdir / "lab-ca.pem")

    # -- loopback specifics ------------------------------------------------------------------------

    def view(self, vantage_id: str) -> View:
        """How ``vantage_id`` sees the lab (valid after ``up``)."""
        return View(self.views[vantage_id], dict(self._ports))

    def _listen(self) -> None:
        """One relay listener per vantage and endpoint; every address of every view serves a
        service on the same port, found by trying (a clash only happens with a foreign socket)."""
        lab_endpoints = list(endpoints(self.topology))
        for _ in range(_PORT_ATTEMPTS):
            relay = Relay(self._policy).start()
            ports: dict[int, int] = {}
            try:
                for vantage, octet in self.views.items():
                    for endpoint in lab_endpoints:
                        address, service = endpoint
                        ports[service] = relay.listen((vantage, endpoint), View(octet, {}).address(address),
                                                      ports.get(service, 0), udp=service == DNS_PORT)
            except OSError:
                relay.close()
                continue
            self._relay, self._ports = relay, ports
            return
        raise OSError("no common free ports for the loopback lab's listeners")

    def _policy(self, route: Hashable) -> tuple[PathState, Upstream]:
        vantage, endpoint = cast(tuple[str, Endpoint], route)
        state = self._states.get(vantage, {}).get(endpoint, CLEAR)
        if self.origins is None:
            raise RuntimeError("the loopback lab is down")
        return state, self.origins.upstream(vantage, endpoint, state.steer)

    def _sync(self) -> None:
        """Recompute every path's state and the resolvers' faults; returns once they are in force."""
        faults = list(self.active.values())
        self._states = {vantage: path_states(self.topology, faults, self.topology.vantage(vantage).network)
                        for vantage in self.views}
        if self.origins is not None:
            self.origins.set_dns_faults(dns_faults(self.topology, faults))
        if self._relay is not None:
            self._relay.refresh()

