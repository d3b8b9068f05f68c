"""Low-level namespace plumbing for the lab: run ``ip``/``nft``/``tc``, find and remove leftovers.

Several labs may be up on one machine at once (other processes, or other threads of this one);
each owns its names and its guard and removes only those:

- every namespace a lab creates is named ``nwlab-<pid>-<slot>-<name>`` (``lab_tag``): the pid of
  the lab process, and a slot unique among the labs that process has up (``claim_slot``);
- in the root namespace a lab adds exactly one thing, its own leak guard: an ``unreachable``
  route for ``LAB_RANGE`` tagged ``proto LEAK_GUARD_PROTO`` with metric ``pid * SLOTS + slot``
  (``guard_metric``), so a packet for a lab address sent from the root namespace by mistake fails
  locally and never reaches a real network. Routes of one prefix with different metrics coexist,
  so while any lab is up the range stays unreachable, whichever lab goes down first.

``cleanup_stale`` removes what a lab left behind only when that lab is gone: its process is dead,
or it is this process and the slot is not held by a lab that is up (a previous process that had
our pid). A live lab's namespaces and guard are never touched.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Sequence

from netwatch.lab.topology import LAB_RANGE

PREFIX = "nwlab-"
LEAK_GUARD_PROTO = "166"  # tags our root-namespace routes, so we only ever delete our own
SLOTS = 256  # labs one process can have up at once (the guard metric packs pid and slot)
_NAME = re.compile(rf"^{PREFIX}(\d+)-(?:(\d+)-)?")  # an older run's names had no slot
_slots: set[int] = set()
_slots_lock = threading.Lock()


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


def claim_slot() -> int:
    """A slot no other lab of this process holds (free it with ``release_slot``)."""
    with _slots_lock:
        slot = next((n for n in range(SLOTS) if n not in _slots), None)
        if slot is None:
            raise PlumbingError(f"this process already has {SLOTS} labs up")
        _slots.add(slot)
        return slot


def release_slot(slot: int) -> None:
    with _slots_lock:
        _slots.discard(slot)


def lab_tag(pid: int, slot: int) -> str:
    """The prefix of every namespace name of the lab in process ``pid``, slot ``slot``."""
    return f"{PREFIX}{pid}-{slot}-"


def guard_metric(pid: int, slot: int) -> int:
    """The metric of that lab's leak-guard route."""
    return pid * SLOTS + slot


def guard_owner(metric: int) -> tuple[int, int]:
    """``(pid, slot)`` of the lab that owns the guard with ``metric`` (inverse of ``guard_metric``)."""
    pid, slot = divmod(metric, SLOTS)
    return pid, slot


def _gone(pid: int, slot: int | None) -> bool:
    """Whether the lab of process ``pid`` and ``slot`` (None: an older version's name) is gone."""
    if pid == os.getpid():
        with _slots_lock:
            return slot is None or slot not in _slots
    return not _alive(pid)


def leak_guards() -> list[int]:
    """The metrics of every lab's leak-guard route in the root namespace (any run)."""
    out = run(["ip", "-4", "route", "show", "table", "main", "type", "unreachable", "proto",
               LEAK_GUARD_PROTO, "exact", str(LAB_RANGE)])
    metrics = []
    for line in out.splitlines():
        tokens = line.split()
        if not tokens or str(LAB_RANGE) not in tokens:
            continue
        metrics.append(int(tokens[tokens.index("metric") + 1]) if "metric" in tokens else 0)
    return metrics


def leak_guard_present(metric: int | None = None) -> bool:
    """Whether the guard with ``metric`` (None: any lab's guard) is in place."""
    guards = leak_guards()
    return bool(guards) if metric is None else metric in guards


def leftovers_of(pid: int) -> list[str]:
    """The namespaces and leak-guard routes of process ``pid``'s labs that still exist (after a
    clean teardown: none)."""
    return ([n for n in lab_namespaces() if n.startswith(f"{PREFIX}{pid}-")]
            + [f"leak-guard route (metric {m})" for m in leak_guards() if guard_owner(m)[0] == pid])


def add_leak_guard(metric: int) -> None:
    """Add one lab's unreachable route for the lab range (fails if that metric is taken)."""
    run(["ip", "-4", "route", "add", "unreachable", str(LAB_RANGE), "proto", LEAK_GUARD_PROTO,
         "metric", str(metric)])


def remove_leak_guard(metric: int) -> None:
    """Remove the guard with ``metric``, and no other (a no-op when it is not there)."""
    if metric <= 0:
        raise ValueError("a delete of metric 0 would match a route of any metric")
    run(["ip", "-4", "route", "del", "unreachable", str(LAB_RANGE), "proto", LEAK_GUARD_PROTO,
         "metric", str(metric)], check=False)


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
    """Remove the namespaces (and their processes) and the leak guards of labs that are gone (see
    the module docstring); a live lab's are left alone. Returns the namespaces removed."""
    removed = []
    for namespace in lab_namespaces():
        match = _NAME.match(namespace)
        if match and _gone(int(match.group(1)), None if match.group(2) is None else int(match.group(2))):
            remove_namespace(namespace)
            removed.append(namespace)
    for metric in leak_guards():
        if metric and _gone(*guard_owner(metric)):
            remove_leak_guard(metric)
    if leak_guards() == [0]:  # an older version's shared guard: deletable only when it is alone
        run(["ip", "-4", "route", "del", "unreachable", str(LAB_RANGE), "proto", LEAK_GUARD_PROTO],
            check=False)
    return removed
