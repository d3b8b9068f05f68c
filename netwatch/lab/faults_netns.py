"""Faults on the namespace backend: the set of active faults rendered into nftables, tc and servers.

State is declarative: ``apply``/``clear`` change the set of active faults and ``sync`` renders the
whole set again - one nftables table per router namespace, replaced atomically in one ``nft -f``
transaction; tbf qdiscs on the links of throttled networks; DNS faults in the server hosts; the
NFQUEUE delayer's queues. Applying a fault twice, or clearing one that is not active, changes
nothing. How each fault becomes packets:

- cut / vantage_offline / loss: ``drop`` (with ``numgen random`` for loss) in the forward chain
  of the router the network hangs off: silent, so probes time out instead of being refused;
- gateway_cut: ``drop`` in the ``igw`` namespace's forward chain;
- throttle: where the kernel has ``netem`` and the throttle selects whole networks, one netem
  qdisc on both ends of each selected network's link (rate, delay, loss: each direction once).
  Otherwise (the lab's usual machines: "Specified qdisc kind is unknown") tbf on both link ends
  (rate); iptables ``NFQUEUE --queue-num <delay_ms>`` to the router's delayer (delay,
  ``netwatch.lab.nfqueue_delay``); ``numgen random`` drops (loss);
- dns: the selected networks' resolvers answer the fault (``DnsServer.set_fault``);
- http_block / tls_intercept: DNAT of inside clients' connections to the censor in ``core``;
- allow_list: ``drop`` in ``core`` of everything neither from nor to an allowed site (DNS kept).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from netwatch.lab.host_process import HostProcess
from netwatch.lab.netns_plumbing import PlumbingError, run
from netwatch.lab.scenario_faults import (
    AllowList,
    Cut,
    DnsTamper,
    Fault,
    GatewayCut,
    HttpBlock,
    Loss,
    Throttle,
    TlsIntercept,
    VantageOffline,
)
from netwatch.lab.server_host import CENSOR_BLOCK_PORT, CENSOR_MITM_PORT, CENSOR_RESET_PORT
from netwatch.lab.topology import CENSOR_ADDRESS, DOMESTIC, NetKind, Selector

if TYPE_CHECKING:
    from netwatch.lab.netns import NetnsLab

# "Neither port is 53" as two interval sets: written as two ``!= 53`` compares, nft 1.0.6 merges
# them into one 32-bit compare meaning "not both 53", which drops DNS.
_NOT_DNS = "meta l4proto { tcp, udp } th dport { 0-52, 54-65535 } th sport { 0-52, 54-65535 } "


@dataclass(frozen=True, slots=True)
class Shape:
    """What a link end does to the packets it sends: a rate cap, a delay, random loss."""

    rate_kbit: int | None = None
    delay_ms: int | None = None
    loss_pct: int | None = None

    def merge(self, other: Shape) -> Shape:
        """Both at once: the lower rate, the longer delay, the higher loss."""
        rates = [r for r in (self.rate_kbit, other.rate_kbit) if r is not None]
        delays = [d for d in (self.delay_ms, other.delay_ms) if d is not None]
        losses = [x for x in (self.loss_pct, other.loss_pct) if x is not None]
        return Shape(min(rates, default=None), max(delays, default=None), max(losses, default=None))

    def qdisc(self) -> list[str]:
        """``tc qdisc`` arguments: netem when it delays or drops, else tbf (rate only)."""
        if self.delay_ms is None and self.loss_pct is None:
            kbit = self.rate_kbit or 0
            burst = max(4096, kbit * 1000 // 8 // 20)  # bytes: 50 ms worth, at least a few packets
            return ["tbf", "rate", f"{kbit}kbit", "burst", str(burst), "latency", "1s"]
        args = ["netem"]
        if self.delay_ms is not None:
            args += ["delay", f"{self.delay_ms}ms"]
        if self.rate_kbit is not None:
            args += ["rate", f"{self.rate_kbit}kbit"]
        if self.loss_pct is not None:
            args += ["loss", "random", f"{self.loss_pct}%"]
        return args


class NetnsFaults:
    """The active faults of one namespace lab. ``netem``: whether throttles may use ``tc netem``
    (None: find out from the kernel the first time a throttle is applied)."""

    def __init__(self, lab: NetnsLab, netem: bool | None = None) -> None:
        self.lab = lab
        self.netem = netem
        self.active: dict[str, Fault] = {}
        self._nft: dict[str, str] = {}  # router -> ruleset last loaded
        self._shapes: dict[tuple[str, str], Shape] = {}  # (namespace name, device) -> shape in force
        self._dns: dict[str, dict[str, list[list[str | None]]]] = {}
        self._iptables: dict[str, str] = {}  # router -> iptables-restore input last loaded
        self._delayers: dict[str, HostProcess] = {}  # router -> its NFQUEUE delayer
        self._queues: dict[str, set[int]] = {}

    def apply(self, fault_id: str, fault: Fault) -> None:
        """Make ``fault`` active under ``fault_id`` (replacing a fault of that id); idempotent."""
        self.active[fault_id] = fault
        self.sync()

    def clear(self, fault_id: str) -> None:
        """Deactivate ``fault_id``; clearing an inactive id is a no-op."""
        if self.active.pop(fault_id, None) is not None:
            self.sync()

    def clear_all(self) -> None:
        self.active.clear()
        self.sync()

    def forget(self) -> None:
        """Drop all state without touching the system (the lab is being torn down)."""
        for delayer in self._delayers.values():
            delayer.stop()
        self.__init__(self.lab, self.netem)  # type: ignore[misc]

    # -- rendering -------------------------------------------------------------------------------

    def sync(self) -> None:
        forward: dict[str, list[str]] = defaultdict(list)
        delays: dict[str, list[tuple[str, int]]] = defaultdict(list)  # router -> (prefix, ms)
        nat: list[str] = []
        shapes: dict[tuple[str, str], Shape] = {}
        dns: dict[str, dict[str, list[list[str | None]]]] = defaultdict(lambda: defaultdict(list))
        topology = self.lab.topology
        clients = sorted(str(n.subnet) for n in topology.networks
                         if n.subnet.subnet_of(DOMESTIC) and n.kind in (NetKind.ACCESS, NetKind.VANTAGE))
        for fault in self.active.values():
            match fault:
                case Cut(target=target, spare_dns=spare_dns):
                    only = _NOT_DNS if spare_dns else ""
                    self._per_router(forward, target.selector(), f"{only}drop")
                case GatewayCut():
                    forward["igw"].append("drop")
                case Loss(target=target, percent=percent):
                    self._per_router(forward, target.selector(), f"numgen random mod 100 < {percent} drop")
                case Throttle(target=target, rate_kbit=rate, delay_ms=delay, loss_pct=loss):
                    selector = target.selector()
                    # netem shapes whole links; a delay or loss for some sites only stays in the routers.
                    on_links = not selector.by_site and self._netem_available()
                    if loss is not None and not on_links:
                        self._per_router(forward, selector, f"numgen random mod 100 < {loss} drop")
                    for prefix in topology.select_prefixes(selector) if delay and not on_links else ():
                        delays["core" if _domestic(prefix) else "world"].append((prefix, delay or 0))
                    shape = Shape(rate, delay, loss) if on_links else Shape(rate)
                    for net in topology.select_networks(selector) if shape != Shape() else ():
                        for key in ((self.lab.router_of(net), f"n{net.index}"), (net.id, "up0")):
                            shapes[key] = shapes[key].merge(shape) if key in shapes else shape
                case VantageOffline(vantage=vantage):
                    net = topology.network(topology.vantage(vantage).network)
                    forward[self.lab.router_of(net)] += [
                        f"ip saddr {net.subnet} drop", f"ip daddr {net.subnet} drop"]
                case DnsTamper(resolvers=resolvers, names=names, mode=mode):
                    in_category = [s.host for s in topology.sites if s.category in names.categories]
                    hosts = [*names.hosts, *in_category]
                    for net in topology.select_networks(resolvers.selector()):
                        if net.resolver:
                            per_name: list[list[str | None]] = [[mode, f"{h}."] for h in hosts]
                            dns[net.id]["resolver"] += per_name or [[mode, None]]
                case HttpBlock(sites=sites):
                    addresses = _set(topology.select_prefixes(sites.selector()))
                    nat += [f"ip saddr {_set(clients)} ip daddr {addresses} tcp dport 80 "
                            f"dnat ip to {CENSOR_ADDRESS}:{CENSOR_BLOCK_PORT}",
                            f"ip saddr {_set(clients)} ip daddr {addresses} tcp dport 443 "
                            f"dnat ip to {CENSOR_ADDRESS}:{CENSOR_RESET_PORT}"]
                case TlsIntercept(sites=sites):
                    addresses = _set(topology.select_prefixes(sites.selector()))
                    nat.append(f"ip saddr {_set(clients)} ip daddr {addresses} tcp dport 443 "
                               f"dnat ip to {CENSOR_ADDRESS}:{CENSOR_MITM_PORT}")
                case AllowList(allow=allow, keep_dns=keep_dns):
                    allowed = _set([f"{topology.site_address(topology.site(h))}/32" for h in allow])
                    spare = _NOT_DNS if keep_dns else ""
                    forward["core"].append(f"ip saddr != {allowed} ip daddr != {allowed} {spare}drop")
        self._load_nft(forward, nat)
        self._load_shapes(shapes)
        self._load_dns({k: dict(v) for k, v in dns.items()})
        for router in ("core", "world"):
            self._load_delays(router, delays.get(router, []))

    def _per_router(self, chains: dict[str, list[str]], selector: Selector, verdict: str) -> None:
        """Rules matching packets from or to the selected prefixes, in the routers that see them."""
        by_router: dict[str, list[str]] = defaultdict(list)
        for prefix in self.lab.topology.select_prefixes(selector):
            by_router["core" if _domestic(prefix) else "world"].append(prefix)
        for router, prefixes in by_router.items():
            chains[router] += [f"ip saddr {_set(prefixes)} {verdict}", f"ip daddr {_set(prefixes)} {verdict}"]

    def _load_nft(self, forward: dict[str, list[str]], nat: list[str]) -> None:
        for router in ("core", "igw", "world"):
            rules = {"forward": forward.get(router, []), "prerouting": nat if router == "core" else []}
            chains = ["chain forward { type filter hook forward priority filter; policy accept; }"]
            if router == "core":
                chains.append("chain prerouting { type nat hook prerouting priority dstnat; policy accept; }")
            # One transaction: declare the table and its chains (a no-op once they exist), empty
            # them, add the rules. The chains, and so their hooks, stay: the kernel drops every
            # packet queued in a namespace when any hook there is unregistered, and deleting the
            # table would do that to the packets the NFQUEUE delayer holds.
            text = "\n".join(["table ip nwlab {", *(f"  {c}" for c in chains), "}", "flush table ip nwlab",
                              *(f"add rule ip nwlab {chain} {rule}" for chain, lines in rules.items()
                                for rule in lines), ""])
            if self._nft.get(router) != text:
                run([*self.lab.exec_prefix(router), "nft", "-f", "-"], text)
                self._nft[router] = text

    def _netem_available(self) -> bool:
        """Whether this kernel has ``sch_netem`` (asked once, on a scratch qdisc in ``core``)."""
        if self.netem is None:
            lo = ["tc", "-n", self.lab.ns("core"), "qdisc"]
            try:
                run([*lo, "add", "dev", "lo", "root", "netem", "delay", "1ms"])
            except PlumbingError:  # "Specified qdisc kind is unknown"
                self.netem = False
            else:
                run([*lo, "del", "dev", "lo", "root"], check=False)
                self.netem = True
        return self.netem

    def _load_shapes(self, wanted: dict[tuple[str, str], Shape]) -> None:
        for (name, dev), shape in wanted.items():
            if self._shapes.get((name, dev)) != shape:
                run(["tc", "-n", self.lab.ns(name), "qdisc", "replace", "dev", dev, "root", *shape.qdisc()])
        for name, dev in set(self._shapes) - set(wanted):
            run(["tc", "-n", self.lab.ns(name), "qdisc", "del", "dev", dev, "root"], check=False)
        self._shapes = wanted

    def _load_dns(self, wanted: dict[str, dict[str, list[list[str | None]]]]) -> None:
        for net_id in set(wanted) | set(self._dns):
            if wanted.get(net_id, {}) != self._dns.get(net_id, {}):
                self.lab.hosts[net_id].command({"op": "dns", "faults": wanted.get(net_id, {})})
        self._dns = wanted

    def _load_delays(self, router: str, delays: list[tuple[str, int]]) -> None:
        """NFQUEUE rules via iptables: this kernel's nftables lacks the ``queue`` expression, while
        the iptables NFQUEUE target (xt compat) works. The queue number is the delay in ms."""
        rules = [f"-A FORWARD {flag} {prefix} -j NFQUEUE --queue-num {ms} --queue-bypass"
                 for prefix, ms in delays for flag in ("-s", "-d")]
        text = "\n".join(["*filter", ":FORWARD ACCEPT [0:0]", *rules, "COMMIT", ""])
        if self._iptables.get(router, "*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n") == text:
            return
        queues = {ms for _, ms in delays}
        if queues - self._queues.get(router, set()):
            delayer = self._delayers.get(router)
            if delayer is None:
                argv = [*self.lab.exec_prefix(router), sys.executable, "-m", "netwatch.lab.nfqueue_delay"]
                delayer = self._delayers[router] = HostProcess.start(argv)
            delayer.command({"queues": sorted(queues)})  # bind before packets are queued
            self._queues[router] = self._queues.get(router, set()) | queues
        run([*self.lab.exec_prefix(router), "iptables-restore"], text)
        self._iptables[router] = text


def _set(items: list[str]) -> str:
    return "{ " + ", ".join(items) + " }" if items else "{ 0.0.0.0/32 }"


def _domestic(prefix: str) -> bool:
    return prefix.startswith("10.66.") and int(prefix.split(".")[2]) < 128

