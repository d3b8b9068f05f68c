"""The default lab topology: a simulated Kazakhstan, its operators, a data centre and the world outside.

Names, regions and AS numbers follow DESIGN.md's January 2022 account so scenarios can replay it;
every address is a lab address (``10.66.0.0/16``) that exists only inside the lab. Five regions:
Almaty (KZ-75), Astana (KZ-71), Mangystau (KZ-47), Karaganda (KZ-35) and Shymkent (KZ-79).
"""

from __future__ import annotations

from netwatch.lab.topology import NetKind, Network, Site, Topology, VantagePoint
from netwatch.model import NetworkType, Role

KTC = ("Kazakhtelecom", "9198", NetworkType.FIXED)
KCELL = ("Kcell", "29355", NetworkType.MOBILE)
TELE2 = ("Tele2/Altel", "48503", NetworkType.MOBILE)
BEELINE = ("Beeline", "21299", NetworkType.MOBILE)

INSIDE_VANTAGE = "lab-inside"
OUTSIDE_VANTAGE = "lab-outside"


def _access(net_id: str, index: int, region: str, operator: tuple[str, str, NetworkType]) -> Network:
    name, asn, network_type = operator
    return Network(net_id, index, NetKind.ACCESS, region, name, asn, network_type, resolver=True)


def kazakhstan_lab() -> Topology:
    """The default topology (a fresh value; cheap)."""
    networks = (
        _access("ktc-ala", 1, "KZ-75", KTC),
        _access("ktc-ast", 2, "KZ-71", KTC),
        _access("ktc-man", 3, "KZ-47", KTC),
        _access("ktc-kar", 4, "KZ-35", KTC),
        _access("ktc-shy", 5, "KZ-79", KTC),
        _access("kcell-ala", 11, "KZ-75", KCELL),
        _access("kcell-man", 12, "KZ-47", KCELL),
        _access("tele2-ala", 13, "KZ-75", TELE2),
        _access("beeline-ast", 14, "KZ-71", BEELINE),
        # PS.kz-like data centre: national (no region) so a regional cut leaves it alone.
        Network("dc", 20, NetKind.HOSTING, "", "PS Cloud", "48716", NetworkType.HOSTING, zones=("kz",)),
        Network("vin", 30, NetKind.VANTAGE, "KZ-71", "Kazakhtelecom", "9198", NetworkType.FIXED),
        Network("ctl", 200, NetKind.OUTSIDE, resolver=True, zones=("org", "com", "example")),
        Network("vout", 230, NetKind.VANTAGE),
    )
    sites = (
        Site("egov.kz", "dc", 0, "government"),
        Site("kaspi.kz", "dc", 1, "bank"),
        Site("halykbank.kz", "dc", 2, "bank"),
        Site("tengrinews.kz", "dc", 3, "news"),
        Site("informburo.kz", "dc", 4, "news"),
        Site("vlast.kz", "dc", 5, "news"),
        Site("zakon.kz", "dc", 6, "news"),
        Site("telecom.kz", "ktc-ast", 0, "telecom"),
        Site("almaty.gov.kz", "ktc-ala", 0, "government"),
        Site("aktau.gov.kz", "ktc-man", 0, "government"),
        Site("karaganda.gov.kz", "ktc-kar", 0, "government"),
        Site("shymkent.gov.kz", "ktc-shy", 0, "government"),
        Site("astana.gov.kz", "ktc-ast", 1, "government"),
        Site("kcell.kz", "kcell-ala", 0, "telecom"),
        Site("aktau.kcell.kz", "kcell-man", 0, "telecom"),
        Site("tele2.kz", "tele2-ala", 0, "telecom"),
        Site("beeline.kz", "beeline-ast", 0, "telecom"),
        Site("telegram.org", "ctl", 0, "messaging"),
        Site("whatsapp.com", "ctl", 1, "messaging"),
        Site("control-a.example", "ctl", 2, "control", Role.CONTROL),
        Site("control-b.example", "ctl", 3, "control", Role.CONTROL),
    )
    vantages = (VantagePoint(INSIDE_VANTAGE, "vin"), VantagePoint(OUTSIDE_VANTAGE, "vout"))
    return Topology("kazakhstan", networks, sites, vantages)
