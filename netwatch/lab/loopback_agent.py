"""How one vantage sees the loopback lab, and the wrapper that runs an agent with that view.

On the namespace backend a vantage's agent runs inside its own network namespace and probes the
topology's addresses (``10.66.i.h``, ports 53/80/443). On loopback every agent shares one host,
so each vantage gets its own copy of the address plan instead: ``127.<octet>.i.h``, with the
service ports 53/80/443 replaced by unprivileged ones (the same for every address of a view).
``View.localize`` rewrites an agent config's targets from the topology's plan into the view's.

``python -m netwatch.lab.loopback_agent --octet 67 --ports 40053,40080,40443 -- COMMAND...`` is
the loopback backend's ``agent_prefix``: it rewrites the file after ``--config`` in COMMAND into
``<name>.loopback.yaml`` beside it and replaces itself (same pid) with COMMAND using that file.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netwatch.lab.loopback_paths import DNS_PORT, HTTP_PORT, HTTPS_PORT
from netwatch.lab.loopback_servers import move
from netwatch.lab.topology import LAB_RANGE

_DEFAULT_PORTS = {"http": HTTP_PORT, "https": HTTPS_PORT}


@dataclass(frozen=True, slots=True)
class View:
    """A vantage's copy of the lab: ``octet`` is the second octet of its addresses, ``ports``
    maps a service port (53, 80, 443) to the port every address of the view serves it on."""

    octet: int
    ports: Mapping[int, int]

    @property
    def network(self) -> str:
        """The CIDR holding every address of this view."""
        return f"127.{self.octet}.0.0/16"

    def address(self, lab_address: str) -> str:
        return move(lab_address, self.octet)

    def port(self, service_port: int) -> int:
        return self.ports.get(service_port, service_port)

    def argv(self) -> list[str]:
        ports = ",".join(str(self.ports[p]) for p in (DNS_PORT, HTTP_PORT, HTTPS_PORT))
        return ["--octet", str(self.octet), "--ports", ports]

    def localize(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` (agent config mapping) with every target moved into this view: resolver,
        ``addresses`` and ``tcp`` host addresses, and the ports of resolvers, URLs and ``tcp``."""
        return {**config, "targets": [self._target(target) for target in config.get("targets", [])]}

    def _target(self, target: Mapping[str, Any]) -> dict[str, Any]:
        params = dict(target.get("params", {}))
        if "url" in params:
            params["url"] = self._url(params["url"])
        if "resolvers" in params:
            params["resolvers"] = [{**spec, "address": self._moved(spec["address"]),
                                    "port": self.port(int(spec.get("port", DNS_PORT)))}
                                   for spec in params["resolvers"]]
        if "addresses" in params:
            params["addresses"] = [self._moved(a) for a in params["addresses"]]
        if target.get("kind") == "tcp":
            params["host"] = self._moved(params["host"])
            params["port"] = self.port(int(params["port"]))
        return {**target, "params": params}

    def _url(self, url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = self.port(parts.port or _DEFAULT_PORTS[parts.scheme])
        netloc = f"{self._moved(host) if _is_lab(host) else host}:{port}"
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def _moved(self, address: str) -> str:
        return self.address(address) if _is_lab(address) else address


def _is_lab(text: str) -> bool:
    try:
        return ipaddress.ip_address(text) in LAB_RANGE
    except ValueError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netwatch.lab.loopback_agent")
    parser.add_argument("--octet", type=int, required=True)
    parser.add_argument("--ports", required=True, help="DNS,HTTP,HTTPS ports of the view")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else list(args.command)
    ports = [int(p) for p in args.ports.split(",")]
    view = View(args.octet, dict(zip((DNS_PORT, HTTP_PORT, HTTPS_PORT), ports, strict=True)))
    if "--config" not in command:
        parser.error("the command has no --config FILE to localize")
    at = command.index("--config") + 1
    source = Path(command[at])
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    target = source.with_name(f"{source.stem}.loopback.yaml")
    target.write_text(yaml.safe_dump(view.localize(config), sort_keys=False), encoding="utf-8")
    command[at] = str(target)
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main())
