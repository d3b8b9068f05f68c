"""What the scenario runner needs from a lab backend, and the namespace backend behind it.

A backend brings the topology up (real servers), applies and clears abstract faults, says how to
start a process "inside" a vantage and where things are (``Addressing``), and tears everything
down. ``netwatch.lab.run`` and ``netwatch.lab.score`` only talk to this interface, so the
namespace backend (here) and the loopback backend (``netwatch.lab.loopback_backend``) share them.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from netwatch.lab.netns import NetnsLab
from netwatch.lab.scenario_faults import Fault
from netwatch.lab.targets import Addressing, TopologyAddressing
from netwatch.lab.topology import LAB_RANGE, Topology

BACKENDS = ("netns", "loopback")


class Backend(Protocol):
    """One lab backend for one run. ``up`` before anything else; ``down`` always, and idempotent:
    afterwards no process, namespace, route, rule or file of the run is left."""

    name: str
    topology: Topology

    def up(self) -> None:
        """Build the topology and start its servers; on failure, leave nothing behind and raise."""
        ...

    def down(self) -> None:
        """Remove everything ``up`` created, including processes started via ``agent_prefix``."""
        ...

    def apply(self, fault_id: str, fault: Fault) -> None:
        """Make ``fault`` active under ``fault_id`` (idempotent)."""
        ...

    def clear(self, fault_id: str) -> None:
        """Deactivate ``fault_id`` (a no-op when it is not active)."""
        ...

    @property
    def addressing(self) -> Addressing:
        """Where the topology's servers are (valid after ``up``)."""
        ...

    def agent_prefix(self, vantage_id: str) -> list[str]:
        """argv prefix that runs a command as the vantage ``vantage_id`` sees the lab."""
        ...

    @property
    def allowed_networks(self) -> tuple[str, ...]:
        """CIDRs an agent of this lab may probe (its egress allowlist; nothing else)."""
        ...

    @property
    def ca_file(self) -> str:
        """PEM file of the lab CA that agents trust (valid after ``up``)."""
        ...


class NetnsBackend:
    """The namespace backend (root only): ``NetnsLab``; agents run inside their vantage's namespace,
    so every packet they send stays in the lab (and ``down`` kills them with the namespace)."""

    name = "netns"

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.lab = NetnsLab(topology)

    def up(self) -> None:
        self.lab.up()

    def down(self) -> None:
        self.lab.down()

    def apply(self, fault_id: str, fault: Fault) -> None:
        self.lab.faults.apply(fault_id, fault)

    def clear(self, fault_id: str) -> None:
        self.lab.faults.clear(fault_id)

    @property
    def addressing(self) -> Addressing:
        return TopologyAddressing(self.topology)

    def agent_prefix(self, vantage_id: str) -> list[str]:
        return self.lab.exec_prefix(self.topology.vantage(vantage_id).network)

    @property
    def allowed_networks(self) -> tuple[str, ...]:
        return (str(LAB_RANGE),)

    @property
    def ca_file(self) -> str:
        return self.lab.ca_file


def make_backend(name: str, topology: Topology) -> Backend:
    """A fresh backend by name (``BACKENDS``); ``ValueError`` for an unknown or missing one."""
    if name == "netns":
        return NetnsBackend(topology)
    if name == "loopback":
        try:
            module = importlib.import_module("netwatch.lab.loopback_backend")
        except ModuleNotFoundError:
            raise ValueError("the loopback backend is not available in this build") from None
        backend: Backend = module.LoopbackBackend(topology)
        return backend
    raise ValueError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})")
