"""The namespace backend: build the lab, probe through it with the real probes from inside a lab
namespace, switch each fault primitive and see the probes' view change, and leave nothing behind.

Other labs may be up on this machine while these tests run (another test process, a benchmark):
every "nothing left" check looks only at the leftovers of the lab under test (namespaces with its
tag, its guard route, its processes)."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from netwatch.lab.netns import NetnsLab
from netwatch.lab.netns_plumbing import (
    cleanup_stale,
    guard_owner,
    lab_namespaces,
    leak_guard_present,
    leak_guards,
    netns_available,
)
from netwatch.lab.scenario import Cut, DnsTamper, GatewayCut, HttpBlock, Loss, Throttle, TlsIntercept
from netwatch.lab.scenario_faults import AllowList, Names, Select, VantageOffline
from netwatch.lab.topology_kz import kazakhstan_lab

_why = netns_available()
pytestmark = [pytest.mark.skipif(_why is not None, reason=f"namespace lab unavailable: {_why}"),
              pytest.mark.timeout(120)]

ISP = [{"address": "10.66.1.53", "label": "isp"}]  # Kazakhtelecom Almaty's resolver
AUTH = [{"address": "10.66.20.54", "label": "authoritative"}]  # .kz, in the data centre
PUBLIC = [{"address": "10.66.200.53", "label": "public"}]  # abroad, what the outside vantage uses


def _namespaces_of(tag: str) -> list[str]:
    return [n for n in lab_namespaces() if n.startswith(tag)]


def _guards_of(pid: int) -> list[int]:
    """The leak-guard routes owned by labs of process ``pid``."""
    return [m for m in leak_guards() if guard_owner(m)[0] == pid]


def _lab_range_unreachable() -> bool:
    """The root namespace refuses a route to a lab address (asks the kernel; sends nothing)."""
    out = subprocess.run(["ip", "-4", "route", "get", "10.66.20.101"], capture_output=True, text=True,
                         check=False)
    return out.returncode != 0 and "no route to host" in out.stderr.lower()


def _dead(pid: int) -> bool:
    """Gone, or a zombie nobody has reaped yet (a killed lab's orphans are reparented)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


_CHILD_LABS = """
    import json, sys, time
    from netwatch.lab.netns import NetnsLab
    from netwatch.lab.topology_kz import kazakhstan_lab
    labs = [NetnsLab(kazakhstan_lab()).up() for _ in range(int(sys.argv[1]))]
    print(json.dumps({"tags": [lab.tag for lab in labs], "guards": [lab.guard_metric for lab in labs],
                      "hosts": [h.pid for lab in labs for h in lab.hosts.values()]}), flush=True)
    time.sleep(600)
"""


def _child_labs(count: int) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """A process with ``count`` labs up; returns it and its labs' tags, guards and host pids."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_CHILD_LABS), str(count)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    line = child.stdout.readline()
    assert line, f"the child's labs did not come up (exit {child.wait()})"
    return child, json.loads(line)


# -- teardown and concurrent labs (run first: no other lab of this process is up yet) ----------------


def test_down_leaves_nothing() -> None:
    lab = NetnsLab(kazakhstan_lab())
    with lab:
        assert leak_guard_present(lab.guard_metric)
        assert len(_namespaces_of(lab.tag)) >= 16
        lab.faults.apply("t", Throttle(kind="throttle", at=0, rate_kbit=256, delay_ms=50))
        pids = [host.pid for host in lab.hosts.values()]
    assert not _namespaces_of(lab.tag)
    assert not leak_guard_present(lab.guard_metric)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    lab.down()  # idempotent


def test_two_labs_in_one_process_each_keep_their_own_guard() -> None:
    first, second = NetnsLab(kazakhstan_lab()), NetnsLab(kazakhstan_lab())
    with first, second:
        assert first.tag != second.tag and first.guard_metric != second.guard_metric
        assert leak_guard_present(first.guard_metric) and leak_guard_present(second.guard_metric)
        assert len(_namespaces_of(first.tag)) == len(_namespaces_of(second.tag)) >= 16
        assert not [n for n in cleanup_stale() if n.startswith((first.tag, second.tag))]
        first.down()  # the first one up goes down first: the second must stay whole and guarded
        assert not _namespaces_of(first.tag) and not leak_guard_present(first.guard_metric)
        assert leak_guard_present(second.guard_metric) and _lab_range_unreachable()
        assert len(_namespaces_of(second.tag)) >= 16
        assert second.hosts and all(host.process.poll() is None for host in second.hosts.values())
    assert not _namespaces_of(second.tag) and not leak_guard_present(second.guard_metric)


def test_labs_of_two_processes_are_independent() -> None:
    child, theirs = _child_labs(1)
    try:
        tag, guard = theirs["tags"][0], theirs["guards"][0]
        with NetnsLab(kazakhstan_lab()) as mine:  # up() runs cleanup_stale: the child's lab is live
            assert _namespaces_of(tag) and leak_guard_present(guard)
            assert leak_guard_present(mine.guard_metric) and mine.guard_metric != guard
        assert not _namespaces_of(mine.tag) and not leak_guard_present(mine.guard_metric)
        assert len(_namespaces_of(tag)) >= 16 and leak_guard_present(guard) and _lab_range_unreachable()
        assert not [n for n in cleanup_stale() if n.startswith(tag)]
        assert len(_namespaces_of(tag)) >= 16 and leak_guard_present(guard)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(30)
    assert not _namespaces_of(tag) and not _guards_of(child.pid)


def test_sigkill_then_cleanup_stale_removes_everything() -> None:
    child, theirs = _child_labs(1)
    tag = theirs["tags"][0]
    namespaces = set(_namespaces_of(tag))
    assert len(namespaces) >= 16 and _guards_of(child.pid) == theirs["guards"]
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert namespaces <= set(cleanup_stale())  # (and whatever other dead labs left)
    assert not _namespaces_of(tag)
    assert not _guards_of(child.pid)
    deadline = time.monotonic() + 5
    while not all(_dead(pid) for pid in theirs["hosts"]) and time.monotonic() < deadline:
        time.sleep(0.1)  # orphaned hosts see stdin EOF and exit; cleanup_stale killed the rest
    assert all(_dead(pid) for pid in theirs["hosts"])


def test_sigterm_tears_down_every_lab_of_the_process() -> None:
    child, theirs = _child_labs(2)
    assert len(_guards_of(child.pid)) == 2
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == -signal.SIGTERM
    assert not _namespaces_of(f"nwlab-{child.pid}-")
    assert not _guards_of(child.pid)
    assert all(_dead(pid) for pid in theirs["hosts"])


# -- the running lab ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Iterator[NetnsLab]:
    with NetnsLab(kazakhstan_lab()) as running:
        yield running


@pytest.fixture
def faults(lab: Any) -> Iterator[Any]:
    yield lab.faults
    lab.faults.clear_all()


def probe(lab: Any, kind: str, params: dict[str, Any], timeout_s: float = 3.0, where: str = "vin") -> Any:
    request = {"target": {"id": "t", "kind": kind, "params": params, "timeout_s": timeout_s},
               "ca_file": lab.ca_file, "vantage": where}
    out = subprocess.run([*lab.exec_prefix(where), sys.executable, "-m", "netwatch.lab.nsprobe"],
                         input=json.dumps(request), capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def http(lab: Any, url: str, timeout_s: float = 3.0, where: str = "vin") -> Any:
    return probe(lab, "http", {"url": url, "resolvers": ISP if where == "vin" else PUBLIC}, timeout_s, where)


def test_probes_see_a_healthy_lab(lab: Any) -> None:
    assert http(lab, "https://kaspi.kz/")["failure"] is None
    assert http(lab, "http://aktau.gov.kz/")["failure"] is None
    assert http(lab, "https://telegram.org/", where="vout")["failure"] is None
    assert probe(lab, "dns", {"name": "egov.kz", "resolvers": ISP + AUTH})["failure"] is None


@pytest.mark.lab_range_reachable
def test_leak_guard_fails_fast_from_the_root_namespace(lab: Any) -> None:
    started = time.monotonic()
    with pytest.raises(OSError) as caught:
        socket.create_connection(("10.66.20.101", 80), timeout=5)
    assert time.monotonic() - started < 0.5
    assert caught.value.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)


def test_region_cut_is_silent_and_clears(lab: Any, faults: Any) -> None:
    cut = Cut(kind="cut", at=0, target=Select(regions=("KZ-47",)))
    faults.apply("cut", cut)
    faults.apply("cut", cut)  # idempotent
    assert http(lab, "http://aktau.gov.kz/", 2.0)["failure"] == "tcp_timeout"
    assert probe(lab, "dns", {"name": "egov.kz", "resolvers": [{"address": "10.66.3.53"}]}, 2.0)[
        "failure"] == "dns_timeout"
    assert http(lab, "http://almaty.gov.kz/")["failure"] is None
    faults.clear("cut")
    faults.clear("cut")
    assert http(lab, "http://aktau.gov.kz/")["failure"] is None


def test_gateway_cut_splits_inside_from_outside(lab: Any, faults: Any) -> None:
    faults.apply("igw", GatewayCut(kind="gateway_cut", at=0))
    assert http(lab, "http://control-a.example/", 2.0)["failure"] == "tcp_timeout"
    assert http(lab, "http://kaspi.kz/", 2.0, where="vout")["failure"] == "tcp_timeout"
    assert http(lab, "http://kaspi.kz/")["failure"] is None
    assert http(lab, "http://control-a.example/", where="vout")["failure"] is None


def test_cut_sparing_dns(lab: Any, faults: Any) -> None:
    faults.apply("tcp", Cut(kind="cut", at=0, target=Select(networks=("dc",)), spare_dns=True))
    assert probe(lab, "dns", {"name": "kaspi.kz", "resolvers": AUTH})["failure"] is None
    assert http(lab, "https://kaspi.kz/", 2.0)["failure"] == "tcp_timeout"


def test_throttle_rate_and_delay_slow_transfers(lab: Any, faults: Any) -> None:
    base = http(lab, "http://kaspi.kz/big", 10.0)
    faults.apply("slow", Throttle(kind="throttle", at=0, target=Select(networks=("dc",)), rate_kbit=1024))
    slow = http(lab, "http://kaspi.kz/big", 10.0)
    assert base["failure"] is None and slow["failure"] is None
    assert slow["duration_s"] > base["duration_s"] + 1.0  # 256 KiB at 1 Mbit/s: about 2 s
    faults.apply("slow", Throttle(kind="throttle", at=0, target=Select(networks=("dc",)), delay_ms=300))
    late = probe(lab, "tcp", {"host": "10.66.20.101", "port": 80})
    assert late["failure"] is None and late["phases"]["connect"] >= 0.55  # 300 ms each way


def _kernel_has_netem() -> bool:
    """Asked of the kernel in a throwaway network namespace, apart from the lab's own check."""
    return subprocess.run(["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay",
                           "1ms"], capture_output=True, check=False).returncode == 0


def test_throttles_use_netem_where_the_kernel_has_it(lab: Any, faults: Any) -> None:
    """netem on both link ends where the kernel has it; elsewhere tbf for the rate and the
    NFQUEUE delayer in the router for the delay (this project's machines: no netem)."""
    faults.apply("slow", Throttle(kind="throttle", at=0, target=Select(networks=("dc",)), rate_kbit=512,
                                  delay_ms=100))
    assert faults.netem is _kernel_has_netem()
    dc = lab.topology.network("dc")
    for name, dev in ((lab.router_of(dc), f"n{dc.index}"), ("dc", "up0")):
        shown = subprocess.run(["tc", "-n", lab.ns(name), "qdisc", "show", "dev", dev], capture_output=True,
                               text=True, check=True).stdout
        wanted = ("netem", "delay 100", "rate 512Kbit") if faults.netem else ("tbf", "rate 512Kbit")
        assert all(part in shown for part in wanted), shown
    iptables = subprocess.run([*lab.exec_prefix("core"), "iptables-save"], capture_output=True, text=True,
                              check=True).stdout
    assert ("NFQUEUE --queue-num 100" in iptables) is not faults.netem


def test_delay_outlives_other_faults_reloading_the_rules(lab: Any, faults: Any) -> None:
    """Packets the delayer holds while another fault reloads the same router's rules: before, the
    reload unregistered the router's hooks, the kernel dropped every queued packet, the delayer's
    verdicts for them failed and it exited - the throttle was silently gone (January 2022, where
    the messaging block lands 17 ms after the mobile throttle)."""
    faults.apply("slow", Throttle(kind="throttle", at=0, target=Select(networks=("dc",)), delay_ms=300))
    with ThreadPoolExecutor(1) as pool:
        # A transfer keeps packets queued in the core's delayer all the while.
        transfer = pool.submit(http, lab, "http://kaspi.kz/big", 20.0)
        time.sleep(1.0)
        for categories in (("news",), ("bank",), ("news",)):
            faults.apply("block", HttpBlock(kind="http_block", at=0, sites=Select(categories=categories)))
            time.sleep(0.2)
        assert transfer.result()["failure"] is None
    late = probe(lab, "tcp", {"host": "10.66.20.101", "port": 80})
    assert late["failure"] is None and late["phases"]["connect"] >= 0.55  # still 300 ms each way


def test_random_loss_drops_packets(lab: Any, faults: Any) -> None:
    faults.apply("loss", Loss(kind="loss", at=0, target=Select(hosts=("kaspi.kz",)), percent=99))
    assert probe(lab, "tcp", {"host": "10.66.20.101", "port": 80}, 1.5)["failure"] == "tcp_timeout"
    assert probe(lab, "tcp", {"host": "10.66.20.100", "port": 80})["failure"] is None


def test_dns_bogons_and_dns_failure(lab: Any, faults: Any) -> None:
    faults.apply("dns", DnsTamper(kind="dns", at=0, mode="bogon", names=Names(categories=("news",))))
    tampered = probe(lab, "dns", {"name": "tengrinews.kz", "resolvers": ISP})
    assert tampered["failure"] == "dns_bogon_answer"
    assert probe(lab, "dns", {"name": "kaspi.kz", "resolvers": ISP})["failure"] is None
    assert probe(lab, "dns", {"name": "tengrinews.kz", "resolvers": AUTH})["failure"] is None
    faults.apply("dns", DnsTamper(kind="dns", at=0, mode="timeout"))
    assert probe(lab, "dns", {"name": "kaspi.kz", "resolvers": ISP}, 2.0)["failure"] == "dns_timeout"


def test_block_page_and_tls_interception_inside_only(lab: Any, faults: Any) -> None:
    faults.apply("block", HttpBlock(kind="http_block", at=0, sites=Select(categories=("news",))))
    faults.apply("mitm", TlsIntercept(kind="tls_intercept", at=0, sites=Select(categories=("bank",))))
    assert http(lab, "http://tengrinews.kz/")["failure"] == "http_blockpage"
    assert http(lab, "https://tengrinews.kz/")["failure"] in ("tcp_reset", "tls_handshake_error")
    assert http(lab, "https://kaspi.kz/")["failure"] == "tls_untrusted_cert"
    assert http(lab, "http://tengrinews.kz/", where="vout")["failure"] is None
    assert http(lab, "https://kaspi.kz/", where="vout")["failure"] is None


def test_allow_list_keeps_only_listed_sites(lab: Any, faults: Any) -> None:
    faults.apply("allow", AllowList(kind="allow_list", at=0, allow=("kaspi.kz", "tengrinews.kz")))
    assert http(lab, "https://kaspi.kz/")["failure"] is None
    assert http(lab, "http://tengrinews.kz/")["failure"] is None
    assert http(lab, "http://egov.kz/", 2.0)["failure"] == "tcp_timeout"
    assert probe(lab, "dns", {"name": "egov.kz", "resolvers": ISP})["failure"] is None


def test_vantage_uplink_dies(lab: Any, faults: Any) -> None:
    faults.apply("off", VantageOffline(kind="vantage_offline", at=0, vantage="lab-inside"))
    assert http(lab, "http://kaspi.kz/", 2.0)["failure"] == "dns_timeout"  # its resolver is gone too
    assert probe(lab, "tcp", {"host": "10.66.20.101", "port": 80}, 2.0)["failure"] == "tcp_timeout"
    assert http(lab, "http://kaspi.kz/", where="vout")["failure"] is None
