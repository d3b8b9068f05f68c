"""The namespace backend: the lab topology built from Linux network namespaces (needs root).

Layout: three router namespaces, ``core`` (the national backbone) - ``igw`` (the international
gateway) - ``world``; every domestic network hangs off ``core`` by a veth link, every foreign one
off ``world``. There are no default routes anywhere, only routes for the lab range, and nothing is
linked to the root namespace, whose only change is the lab's own unreachable leak-guard route. Each
network with servers runs one ``netwatch.lab.server_host`` process; ``core`` also runs the censor.

Several labs may be up at once, in other processes or in this one: each has its own namespace names
(``tag``) and its own guard route (``guard_metric``), see ``netns_plumbing``.

Use as a context manager; teardown (``down``) also runs on SIGTERM/SIGHUP (one handler per process
tears down every lab of the process), at interpreter exit, and ``cleanup_stale`` removes what a
killed run left behind. ``faults`` applies and clears faults.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from netwatch.lab.faults_netns import NetnsFaults
from netwatch.lab.host_process import HostProcess
from netwatch.lab.netns_plumbing import (
    add_leak_guard,
    check_range_unused,
    claim_slot,
    cleanup_stale,
    guard_metric,
    lab_tag,
    release_slot,
    remove_leak_guard,
    remove_namespace,
    run,
)
from netwatch.lab.pki import LabPKI
from netwatch.lab.server_host import pki_to_json
from netwatch.lab.topology import ABROAD, CENSOR_ADDRESS, DOMESTIC, NetKind, Network, Topology

ROUTERS = ("core", "igw", "world")
CORE_IGW = ("10.66.126.1", "10.66.126.2")  # /30 between core and igw
IGW_WORLD = ("10.66.254.1", "10.66.254.2")  # /30 between igw and world
_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_live: list[NetnsLab] = []  # labs of this process that are up, in the order they came up
_previous: dict[int, Any] = {}  # the handlers ours replaced, while ours are installed
_live_lock = threading.RLock()


class NetnsLab:
    """A running lab. ``up()`` builds it, ``down()`` removes every trace (idempotent)."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.pki = LabPKI()
        self.hosts: dict[str, HostProcess] = {}
        self.faults = NetnsFaults(self)
        self._workdir: Path | None = None
        self._namespaces: list[str] = []
        self._slot: int | None = None
        self._tag: str | None = None
        self._metric: int | None = None
        self._down = True

    # -- names ---------------------------------------------------------------------------------------

    @property
    def tag(self) -> str:
        """Prefix of this lab's namespace names, ``nwlab-<pid>-<slot>-`` (set by ``up``, kept after
        ``down`` so callers can check nothing of it is left)."""
        if self._tag is None:
            raise RuntimeError("the lab has not been up")
        return self._tag

    @property
    def guard_metric(self) -> int:
        """Metric of this lab's leak-guard route in the root namespace (set by ``up``, kept after)."""
        if self._metric is None:
            raise RuntimeError("the lab has not been up")
        return self._metric

    def ns(self, name: str) -> str:
        """The namespace of router or network ``name`` in this run."""
        return self.tag + name

    def router_of(self, net: Network) -> str:
        return "core" if net.subnet.subnet_of(DOMESTIC) else "world"

    def exec_prefix(self, name: str) -> list[str]:
        """argv prefix that runs a command inside network ``name`` (e.g. a probe in ``vin``)."""
        return ["ip", "netns", "exec", self.ns(name)]

    @property
    def ca_file(self) -> str:
        """PEM file of the lab CA (for ``ProbeEnv.ca_file``)."""
        if self._workdir is None:
            raise RuntimeError("the lab is not up")
        return str(self._workdir / "lab-ca.pem")

    # -- lifecycle -----------------------------------------------------------------------------------

    def up(self) -> NetnsLab:
        if not self._down:
            raise RuntimeError("the lab is already up")
        cleanup_stale()
        check_range_unused()
        self._slot = claim_slot()
        self._tag, self._metric = lab_tag(os.getpid(), self._slot), guard_metric(os.getpid(), self._slot)
        self._down = False
        self._install_guards()
        try:
            add_leak_guard(self._metric)
            self._workdir = Path(tempfile.mkdtemp(prefix="nwlab-"))
            self.pki.write_ca_file(self.ca_file)
            self._build()
            self._start_hosts()
            self.faults.sync()
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Stop every process, delete every namespace (and with them every veth, rule and qdisc),
        remove this lab's leak-guard route (other labs keep theirs), free the slot, and restore the
        signal handlers when no other lab of this process is up."""
        if self._down:
            return
        self._down = True
        for host in self.hosts.values():
            host.stop()
        self.hosts.clear()
        self.faults.forget()
        for namespace in reversed(self._namespaces):
            remove_namespace(namespace)
        self._namespaces.clear()
        if self._metric is not None:
            remove_leak_guard(self._metric)
        if self._workdir is not None:
            for item in self._workdir.iterdir():
                item.unlink()
            self._workdir.rmdir()
            self._workdir = None
        if self._slot is not None:
            release_slot(self._slot)  # last: until here, cleanup_stale takes all of it for live
            self._slot = None
        self._remove_guards()

    def __enter__(self) -> NetnsLab:
        return self.up()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    def _install_guards(self) -> None:
        atexit.register(self.down)
        with _live_lock:
            _live.append(self)
            if not _previous and threading.current_thread() is threading.main_thread():
                for sig in _SIGNALS:
                    _previous[sig] = signal.signal(sig, _on_signal)

    def _remove_guards(self) -> None:
        atexit.unregister(self.down)
        with _live_lock:
            if self in _live:
                _live.remove(self)
            if not _live and _previous and threading.current_thread() is threading.main_thread():
                for sig, previous in _previous.items():
                    signal.signal(sig, previous)
                _previous.clear()

    # -- building ------------------------------------------------------------------------------------

    def _build(self) -> None:
        names = [*ROUTERS, *(net.id for net in self.topology.networks)]
        self._namespaces = [self.ns(name) for name in names]
        run(["ip", "-batch", "-"], "".join(f"netns add {ns}\n" for ns in self._namespaces))
        links = [
            f"link add igw0 netns {self.ns('core')} type veth peer name core0 netns {self.ns('igw')}",
            f"link add world0 netns {self.ns('igw')} type veth peer name igw0 netns {self.ns('world')}",
        ]
        per_ns: dict[str, list[str]] = {name: ["link set lo up"] for name in names}
        per_ns["core"] += [f"addr add {CORE_IGW[0]}/30 dev igw0", "link set igw0 up",
                           f"route add {ABROAD} via {CORE_IGW[1]}", f"addr add {CENSOR_ADDRESS}/32 dev lo"]
        per_ns["igw"] += [f"addr add {CORE_IGW[1]}/30 dev core0", "link set core0 up",
                          f"addr add {IGW_WORLD[0]}/30 dev world0", "link set world0 up",
                          f"route add {DOMESTIC} via {CORE_IGW[0]}", f"route add {ABROAD} via {IGW_WORLD[1]}"]
        per_ns["world"] += [f"addr add {IGW_WORLD[1]}/30 dev igw0", "link set igw0 up",
                            f"route add {DOMESTIC} via {IGW_WORLD[0]}"]
        for net in self.topology.networks:
            router, dev = self.router_of(net), f"n{net.index}"
            # Both ends are created directly in their namespaces: no name ever appears in the root one.
            links.append(f"link add {dev} netns {self.ns(router)} type veth peer name up0 "
                         f"netns {self.ns(net.id)}")
            per_ns[router] += [f"addr add {net.gateway}/24 dev {dev}", f"link set {dev} up"]
            per_ns[net.id] += [f"addr add {address}/24 dev up0" for address in self._addresses(net)]
            per_ns[net.id] += ["link set up0 up", f"route add 10.66.0.0/16 via {net.gateway}"]
        run(["ip", "-batch", "-"], "".join(f"{line}\n" for line in links))
        for name, commands in per_ns.items():
            run(["ip", "-n", self.ns(name), "-batch", "-"], "".join(f"{line}\n" for line in commands))
        for router in ROUTERS:
            run([*self.exec_prefix(router), "sysctl", "-qw", "net.ipv4.ip_forward=1"])

    def _addresses(self, net: Network) -> list[str]:
        addresses = [net.own_address]
        addresses += [a for a in (net.resolver_address, net.authoritative_address) if a]
        addresses += [self.topology.site_address(s) for s in self.topology.sites if s.network == net.id]
        return addresses

    def _start_hosts(self) -> None:
        pki = pki_to_json(self.pki)
        everything = [[name, rtype, values] for (name, rtype), values in self.topology.records().items()]
        specs: dict[str, dict[str, Any]] = {}
        for net in self.topology.networks:
            dns = []
            if net.resolver_address:
                dns.append({"id": "resolver", "address": net.resolver_address, "records": everything})
            if net.authoritative_address:
                zone = [[n, t, v] for (n, t), v in self.topology.records(net.zones).items()]
                dns.append({"id": "authoritative", "address": net.authoritative_address, "records": zone})
            sites = [{"host": s.host, "address": self.topology.site_address(s)}
                     for s in self.topology.sites if s.network == net.id]
            if dns or sites:
                specs[net.id] = {"pki": pki, "dns": dns, "sites": sites}
        hosts = [s.host for s in self.topology.sites]
        specs["core"] = {"pki": pki, "censor": {"address": CENSOR_ADDRESS, "hosts": hosts}}
        argv = [sys.executable, "-m", "netwatch.lab.server_host"]
        for name, spec in specs.items():  # start all, then wait: the hosts boot in parallel
            self.hosts[name] = HostProcess.start([*self.exec_prefix(name), *argv], spec)
        for name, host in self.hosts.items():
            host.wait_ready(name)

    def networks_of_kind(self, *kinds: NetKind) -> list[Network]:
        return [net for net in self.topology.networks if net.kind in kinds]


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP while labs are up: tear every lab of this process down (newest first), put
    the previous handlers back, then do what the previous handler would have done."""
    with _live_lock:
        previous = _previous.get(signum, signal.SIG_DFL)
        labs = list(reversed(_live))
    for lab in labs:
        lab.down()  # the last one restores the previous handlers ...
    with _live_lock:  # ... unless a lab came up in another thread meanwhile: restore them anyway
        for sig, handler in _previous.items():
            signal.signal(sig, handler)
        _previous.clear()
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_DFL:
        signal.raise_signal(signum)
