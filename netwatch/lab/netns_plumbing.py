"""Low-level namespace plumbing for the lab: run ``ip``/``nft``/``tc``, find and remove leftovers.

Everything the lab creates is named ``nwlab-<pid>-<name>``: the pid of the lab process makes the
name unique per run and lets ``cleanup_stale`` tell a dead run's leftovers from a live one's.
In the root namespace the lab adds exactly one thing: an ``unreachable`` route for
``LAB_RANGE`` tagged ``proto LEAK_GUARD_PROTO``, so a packet for a lab address sent from the root
namespace by mistake fails locally and never reaches a real network.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Sequence

from netwatch.lab.topology import LAB_RANGE

PREFIX = "nwlab-"
LEAK_GUARD_PROTO = "166"  # tags our root-namespace route, so we only ever delete our own
_NAME = re.compile(rf"^{PREFIX}(\d+)-")


class PlumbingError(RuntimeError):
    """An ``ip``/``nft``/``tc`` command failed; the message has the command and its stderr."""


def run(args: Sequence[str], stdin: str | None = None, check: bool = True) -> str:
    """Run a command (no shell), return its stdout; raise ``PlumbingError`` on failure if ``check``."""
    result = subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise PlumbingError(f"{' '.join(args)}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def netns_available() -> str | None:
    """None when this process can build the lab, else the reason it cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft", "tc"):
        if shutil.which(tool) is None:
            return f"{tool!r} is not installed"
    try:
        run(["ip", "netns", "list"])
    except (PlumbingError, OSError) as exc:
        return f"'ip netns' does not work here: {exc}"
    return None


def lab_namespaces() -> list[str]:
    """Every lab namespace on this machine, from any run."""
    names = []
    for line in run(["ip", "netns", "list"]).splitlines():
        name = line.split(" ", 1)[0]
        if name.startswith(PREFIX):
            names.append(name)
    return names


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def namespace_pids(namespace: str) -> list[int]:
    out = run(["ip", "netns", "pids", namespace], check=False)
    return [int(token) for token in out.split() if token.isdigit()]


def remove_namespace(namespace: str) -> None:
    """Kill every process inside ``namespace``, then delete it (which destroys its veth ends)."""
    for pid in namespace_pids(namespace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    run(["ip", "netns", "del", namespace], check=False)


def leak_guard_present() -> bool:
    out = run(["ip", "-4", "route", "show", "table", "main", "type", "unreachable", str(LAB_RANGE)])
    return bool(out.strip())


def add_leak_guard() -> None:
    """Add the root namespace's unreachable route for the lab range (shared by concurrent runs)."""
    run(["ip", "-4", "route", "replace", "unreachable", str(LAB_RANGE), "proto", LEAK_GUARD_PROTO])


def remove_leak_guard_if_unused() -> None:
    """Remove our unreachable route unless a live run still has namespaces up."""
    if any(_alive(int(m.group(1))) for n in lab_namespaces() if (m := _NAME.match(n))):
        return
    run(["ip", "-4", "route", "del", "unreachable", str(LAB_RANGE), "proto", LEAK_GUARD_PROTO], check=False)


def check_range_unused() -> None:
    """Refuse to start when the root namespace already uses the lab range for something else."""
    for line in run(["ip", "-4", "-o", "addr", "show"]).splitlines():
        if " 10.66." in line:
            raise PlumbingError(f"the lab range {LAB_RANGE} is in use on this machine: {line.strip()}")
    for line in run(["ip", "-4", "route", "show", "table", "all"]).splitlines():
        tokens = line.split()
        if not tokens:
            continue
        dest = tokens[1] if tokens[0] in _ROUTE_TYPES and len(tokens) > 1 else tokens[0]
        try:
            network = ipaddress.ip_network(dest, strict=False)
        except ValueError:
            continue  # "default" and the like
        mine = tokens[0] == "unreachable" and network == LAB_RANGE and f"proto {LEAK_GUARD_PROTO}" in line
        if network.version == 4 and network.overlaps(LAB_RANGE) and not mine and network.prefixlen > 0:
            raise PlumbingError(f"the lab range {LAB_RANGE} is routed on this machine: {line.strip()}")


_ROUTE_TYPES = {"unicast", "unreachable", "blackhole", "prohibit", "local", "broadcast", "throw", "anycast"}


def cleanup_stale() -> list[str]:
    """Remove the namespaces (and their processes) of lab runs whose process is gone, then the
    root unreachable route if no live run needs it. Returns the namespaces removed."""
    removed = []
    for namespace in lab_namespaces():
        match = _NAME.match(namespace)
        if match and not _alive(int(match.group(1))):
            remove_namespace(namespace)
            removed.append(namespace)
    remove_leak_guard_if_unused()
    return removed
