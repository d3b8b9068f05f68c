"""ISO 3166-2:KZ: the 17 regions and 3 cities of republican significance of Kazakhstan.

Codes and names from Debian iso-codes (as shipped by pycountry). Abai (KZ-10), Jetisu (KZ-33) and
Ulytau (KZ-62) were created on 2022-06-08 and did not exist during the January 2022 shutdown.
"""

from __future__ import annotations

KZ_REGIONS: dict[str, str] = {
    "KZ-10": "Abai Region",
    "KZ-11": "Akmola Region",
    "KZ-15": "Aktobe Region",
    "KZ-19": "Almaty Region",
    "KZ-23": "Atyrau Region",
    "KZ-27": "West Kazakhstan Region",
    "KZ-31": "Jambyl Region",
    "KZ-33": "Jetisu Region",
    "KZ-35": "Karaganda Region",
    "KZ-39": "Kostanay Region",
    "KZ-43": "Kyzylorda Region",
    "KZ-47": "Mangystau Region",
    "KZ-55": "Pavlodar Region",
    "KZ-59": "North Kazakhstan Region",
    "KZ-61": "Turkistan Region",
    "KZ-62": "Ulytau Region",
    "KZ-63": "East Kazakhstan Region",
    "KZ-71": "Astana",
    "KZ-75": "Almaty",
    "KZ-79": "Shymkent",
}
"""ISO 3166-2:KZ code → English name."""
