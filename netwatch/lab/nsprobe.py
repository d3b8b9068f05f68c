"""Run one real probe from inside a lab namespace and print its Measurement as JSON.

``ip netns exec <ns> python -m netwatch.lab.nsprobe`` reads one JSON object on stdin:
``{"target": {"id", "kind", "params", "timeout_s"}, "vantage": id, "ca_file": path}`` and prints
``Measurement.to_dict()``. The probe environment allows only the lab range (egress), accepts lab
addresses as legitimate DNS answers, and knows the lab censor's block page.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from netwatch.egress import EgressPolicy
from netwatch.lab.topology import LAB_RANGE
from netwatch.model import Position, Target, Vantage
from netwatch.runner import run_probe
from probes import PROBES
from probes.env import BlockpageFingerprint, ProbeEnv

LAB_BLOCKPAGE = BlockpageFingerprint(name="netwatch-lab", body_contains="netwatch lab block page")


def lab_env(ca_file: str | None) -> ProbeEnv:
    """Probing settings for agents inside the lab: lab range only, lab CA, lab block page."""
    egress = EgressPolicy.from_cidrs([str(LAB_RANGE)])
    return ProbeEnv(egress=egress, ca_file=ca_file, bogon_exempt=egress.networks,
                    blockpage_fingerprints=(LAB_BLOCKPAGE,))


def probe_once(request: dict[str, Any]) -> dict[str, Any]:
    spec = request["target"]
    kind = PROBES[spec["kind"]]
    target = Target(id=spec["id"], kind=spec["kind"], params=kind.params.model_validate(spec["params"]),
                    timeout_s=float(spec.get("timeout_s", 5.0)))
    vantage = Vantage(request.get("vantage", "lab"), Position(request.get("position", "inside")))
    return run_probe(target, PROBES, lab_env(request.get("ca_file")), vantage).to_dict()


def main() -> int:
    print(json.dumps(probe_once(json.loads(sys.stdin.read()))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
