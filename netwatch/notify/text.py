# ruff: noqa: RUF001  (Cyrillic letters that look Latin are the point of a translation)
"""The words of notification messages, per language. Data only: ``render`` assembles them.

English and Russian are complete. Kazakh (``kk``) is complete too, but written by the developers
without a native speaker's review: treat its wording as a draft (docs/configuration.md says so).
Phrases with ``{}`` take one argument. Unknown detector reasons fall back to the English phrase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from netwatch.model import Layer, OutageChange, ScopeType
from netwatch.notify.settings import Language


@dataclass(frozen=True, slots=True)
class Phrases:
    """Every phrase a message needs, in one language."""

    change: Mapping[OutageChange, str]
    vantage_change: Mapping[OutageChange, str]
    scope: Mapping[ScopeType, str]  # "{}" = the entity
    layer: Mapping[Layer, str]
    reason: Mapping[str, str]
    national: str
    digest_title: str  # "{}" = number of outages
    opened_updated_closed: tuple[str, str, str]  # counts, each "{}"
    start: str
    end: str
    ongoing: str
    duration: str
    so_far: str
    uncertainty: str  # "{}" = a duration
    earliest: str  # "{}" = a UTC time
    between: str  # "{}" twice: shortest, longest
    counts: str  # "{}" x3: targets, vantages, percent lost
    why: str
    vantage_note: str
    more: str  # "{}" = number of outages not listed
    test_title: str
    test_body: str  # "{}" = destination name
    sent: str
    ref: str


_O, _U, _C = OutageChange.OPENED, OutageChange.UPDATED, OutageChange.CLOSED
_S, _L = ScopeType, Layer

PHRASES: Final[MappingProxyType[Language, Phrases]] = MappingProxyType({
    Language.EN: Phrases(
        change={_O: "Outage began", _U: "Outage update", _C: "Outage ended"},
        vantage_change={_O: "Vantage offline", _U: "Vantage still offline", _C: "Vantage back online"},
        scope={_S.COUNTRY: "country {}", _S.REGION: "region {}", _S.ASN: "AS{}",
               _S.NETWORK_TYPE: "{} networks", _S.CATEGORY: "category {}", _S.TARGET: "target {}",
               _S.VANTAGE: "vantage {}"},
        layer={_L.DNS: "DNS (name resolution fails)", _L.DNS_TAMPERING: "DNS tampering (forged answers)",
               _L.TCP_IP: "TCP/IP (connections fail)", _L.TLS: "TLS (handshakes fail)",
               _L.TLS_INTERCEPTION: "TLS interception (untrusted certificate)",
               _L.HTTP_BLOCKING: "HTTP blocking (block pages)", _L.THROTTLING: "throttling",
               _L.PARTIAL: "partial (only a few sites reachable)", _L.BLACKOUT: "full blackout",
               _L.VANTAGE_OFFLINE: "vantage offline",
               _L.INTERNATIONAL_CUT: "international cut (domestic network still works)"},
        reason={},
        national="national",
        digest_title="netwatch: {} outages changed",
        opened_updated_closed=("{} began", "{} updated", "{} ended"),
        start="Start", end="End", ongoing="ongoing", duration="Duration", so_far="so far",
        uncertainty="uncertainty {}", earliest="not earlier than {}", between="between {} and {}",
        counts="Targets affected: {} · vantages: {} · share lost: {}%", why="Why",
        vantage_note="This is about the monitoring point itself (its own uplink), not the watched country.",
        more="… and {} more outages (netwatch outages / the API list them all)",
        test_title="netwatch: test message",
        test_body="Test message for destination '{}': if you can read this, netwatch notifications work.",
        sent="Sent", ref="ref",
    ),
    Language.RU: Phrases(
        change={_O: "Начало сбоя", _U: "Обновление сбоя", _C: "Сбой закончился"},
        vantage_change={_O: "Точка наблюдения без связи", _U: "Точка наблюдения всё ещё без связи",
                        _C: "Точка наблюдения снова на связи"},
        scope={_S.COUNTRY: "страна {}", _S.REGION: "регион {}", _S.ASN: "AS{}",
               _S.NETWORK_TYPE: "сети типа {}", _S.CATEGORY: "категория {}", _S.TARGET: "цель {}",
               _S.VANTAGE: "точка наблюдения {}"},
        layer={_L.DNS: "DNS (имена не разрешаются)", _L.DNS_TAMPERING: "подмена DNS-ответов",
               _L.TCP_IP: "TCP/IP (соединения не устанавливаются)", _L.TLS: "TLS (сбой рукопожатия)",
               _L.TLS_INTERCEPTION: "перехват TLS (недоверенный сертификат)",
               _L.HTTP_BLOCKING: "HTTP-блокировка (страницы блокировки)", _L.THROTTLING: "замедление",
               _L.PARTIAL: "частичное отключение (доступны лишь отдельные сайты)",
               _L.BLACKOUT: "полное отключение", _L.VANTAGE_OFFLINE: "точка наблюдения без связи",
               _L.INTERNATIONAL_CUT: "отключение от международного интернета (внутренняя сеть работает)"},
        reason={"threshold crossed": "превышен порог", "episode began": "начался новый эпизод инцидента",
                "layer changed": "изменился характер сбоя", "recovered": "связь восстановилась",
                "layer revised": "характер сбоя уточнён", "start revised": "время начала уточнено",
                "vantages changed": "изменилось число точек наблюдения", "widened": "сбой расширился"},
        national="общенациональный",
        digest_title="netwatch: изменений по сбоям — {}",
        opened_updated_closed=("начато: {}", "обновлено: {}", "закончено: {}"),
        start="Начало", end="Конец", ongoing="продолжается", duration="Длительность", so_far="пока",
        uncertainty="погрешность {}", earliest="не раньше {}", between="от {} до {}",
        counts="Затронуто целей: {} · точек наблюдения: {} · доля недоступного: {}%", why="Причина",
        vantage_note="Это сбой самой точки наблюдения (её канала связи), а не отключение в стране.",
        more="… и ещё сбоев: {} (полный список: netwatch outages или API)",
        test_title="netwatch: тестовое сообщение",
        test_body="Тестовое сообщение для получателя «{}»: если вы его видите, уведомления netwatch "
        "работают.",
        sent="Отправлено", ref="ref",
    ),
    Language.KK: Phrases(
        change={_O: "Үзіліс басталды", _U: "Үзіліс туралы жаңарту", _C: "Үзіліс аяқталды"},
        vantage_change={_O: "Бақылау нүктесі байланыссыз", _U: "Бақылау нүктесі әлі байланыссыз",
                        _C: "Бақылау нүктесі қайта байланыста"},
        scope={_S.COUNTRY: "ел {}", _S.REGION: "өңір {}", _S.ASN: "AS{}",
               _S.NETWORK_TYPE: "{} желілері", _S.CATEGORY: "санат {}", _S.TARGET: "нысан {}",
               _S.VANTAGE: "бақылау нүктесі {}"},
        layer={_L.DNS: "DNS (атаулар шешілмейді)", _L.DNS_TAMPERING: "DNS жауаптарын бұрмалау",
               _L.TCP_IP: "TCP/IP (қосылымдар орнатылмайды)", _L.TLS: "TLS (қол алысу сәтсіз)",
               _L.TLS_INTERCEPTION: "TLS-ті ұстап алу (сенімсіз сертификат)",
               _L.HTTP_BLOCKING: "HTTP бұғаттау (бұғаттау беттері)", _L.THROTTLING: "жылдамдықты шектеу",
               _L.PARTIAL: "ішінара өшіру (тек жекелеген сайттар қолжетімді)",
               _L.BLACKOUT: "толық өшіру", _L.VANTAGE_OFFLINE: "бақылау нүктесі байланыссыз",
               _L.INTERNATIONAL_CUT: "халықаралық интернеттен ажырату (ішкі желі жұмыс істейді)"},
        reason={"threshold crossed": "шекті мәннен асты", "episode began": "оқиғаның жаңа кезеңі басталды",
                "layer changed": "үзіліс сипаты өзгерді", "recovered": "байланыс қалпына келді",
                "layer revised": "үзіліс сипаты нақтыланды", "start revised": "басталу уақыты нақтыланды",
                "vantages changed": "бақылау нүктелерінің саны өзгерді", "widened": "үзіліс ауқымы кеңейді"},
        national="жалпыұлттық",
        digest_title="netwatch: үзілістер бойынша өзгерістер — {}",
        opened_updated_closed=("басталды: {}", "жаңартылды: {}", "аяқталды: {}"),
        start="Басталуы", end="Аяқталуы", ongoing="жалғасуда", duration="Ұзақтығы", so_far="әзірге",
        uncertainty="дәлсіздігі {}", earliest="ең ерте мезгілі {}", between="{} мен {} аралығында",
        counts="Зардап шеккен нысандар: {} · бақылау нүктелері: {} · қолжетімсіз үлесі: {}%",
        why="Себебі",
        vantage_note="Бұл елдегі өшіру емес, бақылау нүктесінің өз байланысындағы ақау.",
        more="… тағы {} үзіліс (толық тізім: netwatch outages немесе API)",
        test_title="netwatch: сынақ хабарламасы",
        test_body="«{}» алушысына сынақ хабарламасы: мұны оқи алсаңыз, netwatch хабарламалары жұмыс істейді.",
        sent="Жіберілді", ref="ref",
    ),
})
