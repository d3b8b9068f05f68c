"""The loopback backend: every fault kind changes what real probes see, per vantage; teardown
leaves nothing behind. (Shipped scenarios end to end, scored: ``tests/test_scenarios_accuracy.py``.)

Probes are the production probes (``run_probe``) on the targets ``netwatch lab run`` gives each
vantage (``lab_targets``), moved into that vantage's view of the lab: no root, loopback only.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netwatch.egress import EgressPolicy
from netwatch.lab.loopback_backend import LoopbackBackend
from netwatch.lab.nsprobe import LAB_BLOCKPAGE
from netwatch.lab.scenario import parse_scenario
from netwatch.lab.server_host import BIG_PATH
from netwatch.lab.targets import lab_targets
from netwatch.lab.topology_kz import INSIDE_VANTAGE, OUTSIDE_VANTAGE, kazakhstan_lab
from netwatch.model import Failure, Measurement, Target, Vantage
from netwatch.runner import run_probe
from probes import PROBES
from probes.env import ProbeEnv

IN, OUT = INSIDE_VANTAGE, OUTSIDE_VANTAGE


@pytest.fixture(scope="module")
def lab() -> Iterator[LoopbackBackend]:
    backend = LoopbackBackend(kazakhstan_lab())
    backend.up()
    try:
        yield backend
    finally:
        backend.down()


@pytest.fixture
def faults(lab: LoopbackBackend) -> Iterator[Any]:
    """Apply faults as scenario-file mappings (``faults(kind="cut", ...)``); all cleared after."""
    def apply(**fields: Any) -> None:
        fault = parse_scenario({"name": "t", "duration_s": 100, "faults": [{"at": 0, **fields}]}).faults[0]
        lab.apply(f"f{len(lab.active)}", fault)

    yield apply
    for fault_id in list(lab.active):
        lab.clear(fault_id)


def probe(lab: LoopbackBackend, vantage: str, target_id: str, timeout_s: float = 1.5,
          path: str = "/") -> Measurement:
    """Run the ``target_id`` probe of ``vantage`` (as its agent would) once."""
    config = {"targets": lab_targets(lab.topology, vantage, lab.addressing)}
    spec = next(t for t in lab.view(vantage).localize(config)["targets"] if t["id"] == target_id)
    params = dict(spec["params"])
    if "url" in params:
        params["url"] = params["url"].rstrip("/") + path
    target = Target(target_id, spec["kind"], PROBES[spec["kind"]].params.model_validate(params),
                    timeout_s=timeout_s)
    egress = EgressPolicy.from_cidrs(lab.allowed_networks)
    env = ProbeEnv(egress=egress, ca_file=lab.ca_file, bogon_exempt=egress.networks,
                   blockpage_fingerprints=(LAB_BLOCKPAGE,))
    position = lab.topology.network(lab.topology.vantage(vantage).network).position
    return run_probe(target, PROBES, env, Vantage(vantage, position))


def failure(lab: LoopbackBackend, vantage: str, target_id: str, **kwargs: Any) -> Failure | None:
    return probe(lab, vantage, target_id, **kwargs).failure


def test_a_healthy_lab_answers_every_probe_of_both_vantages(lab: LoopbackBackend) -> None:
    for vantage in (IN, OUT):
        for target_id in ("kaspi.kz/dns", "kaspi.kz/http", "kaspi.kz/https", "egov.kz/tcp",
                          "control-a.example/https", "resolver.kcell-man/dns", "telegram.org/https"):
            assert failure(lab, vantage, target_id) is None, (vantage, target_id)


def test_views_are_separate_addresses_on_loopback_with_unprivileged_ports(lab: LoopbackBackend) -> None:
    inside, outside = lab.view(IN), lab.view(OUT)
    assert inside.address("10.66.20.101") == "127.67.20.101"
    assert outside.address("10.66.20.101") == "127.68.20.101"
    assert all(port >= 1024 for port in inside.ports.values()) and inside.ports == outside.ports
    assert lab.allowed_networks == ("127.67.0.0/16", "127.68.0.0/16")
    evidence = probe(lab, IN, "kaspi.kz/https").evidence
    assert evidence["connected"].startswith("127.67.20.101")


def test_cut_drops_silently_for_both_vantages_and_clears(lab: LoopbackBackend, faults: Any) -> None:
    faults(kind="cut", target={"regions": ["KZ-47"]})
    for vantage in (IN, OUT):
        assert failure(lab, vantage, "aktau.gov.kz/https") == Failure.TCP_TIMEOUT  # not refused, not TLS
        assert failure(lab, vantage, "aktau.gov.kz/tcp") == Failure.TCP_TIMEOUT
        assert failure(lab, vantage, "resolver.ktc-man/dns") == Failure.DNS_TIMEOUT
        assert failure(lab, vantage, "kaspi.kz/https") is None
    lab.clear(next(iter(lab.active)))
    assert failure(lab, IN, "aktau.gov.kz/https") is None


def test_cut_sparing_dns_keeps_the_resolvers_answering(lab: LoopbackBackend, faults: Any) -> None:
    faults(kind="cut", spare_dns=True)  # every inside network
    assert failure(lab, IN, "resolver.ktc-man/dns") is None
    assert failure(lab, IN, "kaspi.kz/dns") is None
    assert failure(lab, IN, "kaspi.kz/https") == Failure.TCP_TIMEOUT


def test_gateway_cut_splits_inside_from_outside(lab: LoopbackBackend, faults: Any) -> None:
    faults(kind="gateway_cut")
    assert failure(lab, IN, "control-a.example/https") == Failure.TCP_TIMEOUT
    assert failure(lab, IN, "kaspi.kz/https") is None
    assert failure(lab, OUT, "kaspi.kz/https") == Failure.TCP_TIMEOUT
    assert failure(lab, OUT, "kaspi.kz/dns") == Failure.DNS_TIMEOUT  # the .kz authoritative is inside
    assert failure(lab, OUT, "control-a.example/https") is None


def test_throttle_delay_and_rate_slow_the_selected_networks(lab: LoopbackBackend, faults: Any) -> None:
    before = probe(lab, IN, "kcell.kz/https").duration_s
    faults(kind="throttle", target={"network_types": ["mobile"]}, delay_ms=150)
    slowed = probe(lab, IN, "kcell.kz/https", timeout_s=5)
    assert slowed.failure is None and slowed.duration_s >= 0.6 > before  # TLS and HTTP: 2 round trips
    assert probe(lab, IN, "kaspi.kz/https").duration_s < 0.3  # fixed and hosting untouched
    faults(kind="throttle", target={"networks": ["tele2-ala"]}, rate_kbit=1024)
    big = probe(lab, OUT, "tele2.kz/https", timeout_s=8, path=BIG_PATH)  # 256 KiB at 1 Mbit/s: ~2 s
    assert big.failure is None and big.duration_s >= 1.8


def test_loss_drops_datagrams_and_delays_segments(lab: LoopbackBackend, faults: Any) -> None:
    faults(kind="loss", percent=99, target={"networks": ["kcell-man"]})
    assert failure(lab, IN, "resolver.kcell-man/dns", timeout_s=1.0) == Failure.DNS_TIMEOUT
    slow = probe(lab, IN, "aktau.kcell.kz/tcp", timeout_s=1.0)
    assert slow.failure is None  # the handshake is the kernel's (see the backend's docstring) ...
    assert failure(lab, IN, "aktau.kcell.kz/https", timeout_s=0.5) is not None  # ... the rest is lost


@pytest.mark.parametrize(("mode", "expected"), [("bogon", Failure.DNS_BOGON_ANSWER),
                                                ("nxdomain", Failure.DNS_NXDOMAIN),
                                                ("timeout", Failure.DNS_TIMEOUT)])
def test_dns_faults_are_the_operator_resolvers_answers(lab: LoopbackBackend, faults: Any, mode: str,
                                                       expected: Failure) -> None:
    faults(kind="dns", mode=mode, names={"categories": ["news"]})
    assert failure(lab, IN, "tengrinews.kz/dns") == expected
    assert failure(lab, IN, "kaspi.kz/dns") is None
    assert failure(lab, OUT, "tengrinews.kz/dns") is None  # from abroad: the authoritative server


def test_http_block_serves_a_block_page_inside_only(lab: LoopbackBackend, faults: Any) -> None:
    faults(kind="http_block", sites={"categories": ["messaging"], "positions": ["outside"]})
    assert failure(lab, IN, "telegram.org/http") == Failure.HTTP_BLOCKPAGE
    assert failure(lab, IN, "telegram.org/https") in {Failure.TCP_RESET, Failure.TLS_HANDSHAKE_ERROR}
    assert failure(lab, OUT, "telegram.org/http") is None
    assert failure(lab, OUT, "telegram.org/https") is None


def test_tls_interception_presents_the_rogue_root_inside_only(lab: LoopbackBackend, faults: Any) -> None:
    faults(kind="tls_intercept", sites={"categories": ["bank"]})
    assert failure(lab, IN, "kaspi.kz/https") == Failure.TLS_UNTRUSTED_CERT
    assert failure(lab, IN, "kaspi.kz/http") is None
    assert failure(lab, OUT, "kaspi.kz/https") is None


def test_allow_list_keeps_only_the_listed_sites(lab: LoopbackBackend, faults: Any) -> None:
    faults(kind="allow_list", allow=["kaspi.kz"])
    assert failure(lab, IN, "kaspi.kz/https") is None
    assert failure(lab, IN, "egov.kz/https") == Failure.TCP_TIMEOUT
    assert failure(lab, IN, "control-a.example/https") == Failure.TCP_TIMEOUT  # crosses the core
    assert failure(lab, IN, "egov.kz/dns") is None  # keep_dns
    assert failure(lab, OUT, "egov.kz/https") == Failure.TCP_TIMEOUT
    assert failure(lab, OUT, "control-a.example/https") is None  # abroad to abroad: no core


def test_vantage_offline_silences_that_vantage_only(lab: LoopbackBackend, faults: Any) -> None:
    faults(kind="vantage_offline", vantage=IN)
    assert failure(lab, IN, "control-a.example/https") == Failure.TCP_TIMEOUT
    assert failure(lab, IN, "kaspi.kz/dns") == Failure.DNS_TIMEOUT
    assert failure(lab, OUT, "control-a.example/https") is None
    assert failure(lab, OUT, "kaspi.kz/https") is None


def test_down_leaves_no_thread_socket_or_file_behind() -> None:
    before = set(threading.enumerate())
    backend = LoopbackBackend(kazakhstan_lab())
    backend.up()
    ca_file, view = Path(backend.ca_file), backend.view(IN)
    address, port = view.address("10.66.20.101"), view.port(443)
    backend.apply("cut", parse_scenario({"name": "t", "duration_s": 9, "faults": [
        {"kind": "cut", "at": 0}]}).faults[0])  # a paused listener and its filler
    backend.down()
    backend.down()  # idempotent
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not set(threading.enumerate()) - before
    assert not ca_file.exists()
    with socket.socket() as sock:
        sock.bind((address, port))  # the listener is gone
