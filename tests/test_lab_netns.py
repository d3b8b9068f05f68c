"""The namespace backend: build the lab, probe through it with the real probes from inside a lab
namespace, switch each fault primitive and see the probes' view change, and leave nothing behind."""

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
from typing import Any

import pytest

from netwatch.lab.netns import NetnsLab
from netwatch.lab.netns_plumbing import cleanup_stale, lab_namespaces, leak_guard_present, netns_available
from netwatch.lab.scenario import Cut, DnsTamper, GatewayCut, HttpBlock, Loss, Throttle, TlsIntercept
from netwatch.lab.scenario_faults import AllowList, Names, Select, VantageOffline
from netwatch.lab.topology_kz import kazakhstan_lab

_why = netns_available()
pytestmark = [pytest.mark.skipif(_why is not None, reason=f"namespace lab unavailable: {_why}"),
              pytest.mark.timeout(120)]

ISP = [{"address": "10.66.1.53", "label": "isp"}]  # Kazakhtelecom Almaty's resolver
AUTH = [{"address": "10.66.20.54", "label": "authoritative"}]  # .kz, in the data centre
PUBLIC = [{"address": "10.66.200.53", "label": "public"}]  # abroad, what the outside vantage uses


def _lab_processes(tag: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if tag in line]


# -- teardown (run first: no other lab of this process is up yet) ------------------------------------


def test_down_leaves_nothing() -> None:
    lab = NetnsLab(kazakhstan_lab())
    with lab:
        assert leak_guard_present()
        assert len([n for n in lab_namespaces() if n.startswith(lab.tag)]) >= 16
        lab.faults.apply("t", Throttle(kind="throttle", at=0, rate_kbit=256, delay_ms=50))
        pids = [host.pid for host in lab.hosts.values()]
    assert not [n for n in lab_namespaces() if n.startswith(lab.tag)]
    assert not leak_guard_present()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    lab.down()  # idempotent


def test_sigkill_then_cleanup_stale_removes_everything() -> None:
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import time
        from netwatch.lab.netns import NetnsLab
        from netwatch.lab.topology_kz import kazakhstan_lab
        NetnsLab(kazakhstan_lab()).up()
        print("up", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "up"
    tag = f"nwlab-{child.pid}-"
    assert [n for n in lab_namespaces() if n.startswith(tag)]
    child.send_signal(signal.SIGKILL)
    child.wait()
    removed = cleanup_stale()
    assert all(n.startswith(tag) for n in removed) and removed
    assert not [n for n in lab_namespaces() if n.startswith(tag)]
    assert not leak_guard_present()
    deadline = time.monotonic() + 5
    while _lab_processes("netwatch.lab.server_host") and time.monotonic() < deadline:
        time.sleep(0.1)  # orphaned hosts see stdin EOF and exit; cleanup_stale killed the rest
    assert not _lab_processes("netwatch.lab.server_host")


def test_sigterm_tears_down() -> None:
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent("""
        import time
        from netwatch.lab.netns import NetnsLab
        from netwatch.lab.topology_kz import kazakhstan_lab
        NetnsLab(kazakhstan_lab()).up()
        print("up", flush=True)
        time.sleep(600)
    """)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "up"
    child.send_signal(signal.SIGTERM)
    assert child.wait(30) == -signal.SIGTERM
    assert not [n for n in lab_namespaces() if n.startswith(f"nwlab-{child.pid}-")]
    assert not leak_guard_present()


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
