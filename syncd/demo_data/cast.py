"""The demo's cast: who Ada Lovelace writes to and meets, and the part each one plays."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta
from zoneinfo import ZoneInfo

SEED = 1815
TIMEZONE = "Europe/London"
ME_NAME = "Ada Lovelace"
ME_EMAILS = ("ada@example.org", "ada.lovelace@gmail.com", "ada@lovelace.example")
MBOX_NAME = "All mail Including Spam and Trash.mbox"
ICS_NAME = "Ada Lovelace.ics"
TZ = ZoneInfo(TIMEZONE)

Addr = tuple[str, str]  # (display name, address)
ME: Addr = (ME_NAME, ME_EMAILS[0])
GRACE: Addr = ("Grace Hopper", "grace.hopper@example.com")
GRACE_NEW: Addr = ("Grace Hopper", "grace@cobol.example")
CHARLES: Addr = ("Charles Babbage", "charles@babbage.example")
MEDORA: Addr = ("Medora Leigh", "medora.leigh@example.net")
MOTHER: Addr = ("Anne Isabella Byron", "annabella@example.net")
MARY: Addr = ("Mary Somerville", "mary.somerville@example.co.uk")
FARADAY: Addr = ("Michael Faraday", "m.faraday@royal-institution.example")
EMILIE: Addr = ("Émilie du Châtelet", "emilie@cirey.example")
ZOE: Addr = ("Zoë Ångström", "zoe.angstrom@lab.example")
LISE: Addr = ("Lise Meitner", "lise.meitner@lab.example")
RAMANUJAN: Addr = ("Srinivasa Ramanujan", "ramanujan@lab.example")
TESLA: Addr = ("Nikola Tesla", "nikola.tesla@lab.example")
JOSE: Addr = ("José Núñez", "jose.nunez@example.es")
GOSIA: Addr = ("Małgorzata Kowalska", "gosia.kowalska@example.pl")
HIROSHI: Addr = ("田中 博", "hiroshi.tanaka@example.jp")
AUGUSTUS: Addr = ("Augustus De Morgan", "augustus@de-morgan.example")
CHLOE: Addr = ("Chloé Dubois", "chloe.dubois@example.fr")
FLORENCE: Addr = ("Florence Nightingale", "florence@nightingale.example")
EMILY: Addr = ("Emily Davies", "emily.davies@girton.example")
DICKENS: Addr = ("Charles Dickens", "dickens@example.co.uk")
HARRIET: Addr = ("Harriet Martineau", "harriet@martineau.example")
VENDOR: Addr = ("Tom Sellers", "tom.sellers@vendor.example")
CEO: Addr = ("Isambard Kingdom Brunel", "ikb@lab.example")
TEAM = (ZOE, LISE, RAMANUJAN, TESLA)

CAST: tuple[tuple[Addr, str], ...] = (
    (GRACE, "close friend: weekly emails for two years, silent for two months (overdue)"),
    (CHARLES, "mentor: monthly meetings that stopped two months ago (overdue by weeks)"),
    (MEDORA, "sister: steady fortnightly emails, last week too (not overdue); birthday soon"),
    (MARY, "former colleague: quarterly lunches, the last one six months ago (overdue)"),
    (FARADAY, "collaborator: wrote last week and is waiting on a reply"),
    (EMILIE, "a stranger who wrote a personal note two days ago: awaiting a reply"),
    (ZOE, "team lead: weekly team meeting (a cancelled and a skipped occurrence)"),
    (JOSE, "friend: every three weeks until six weeks ago (overdue)"),
    (GOSIA, "friend from abroad: every six weeks, silent for five months (overdue)"),
    (HIROSHI, "conference friend writing from Tokyo every two months (not overdue)"),
    (AUGUSTUS, "tutor: monthly notes; his auto-reply to Ada's last mail does not count"),
    (CHLOE, "friend: coffee every five weeks, the next one already planned"),
    (FLORENCE, "old friend: every two months, last three months ago (overdue)"),
    (EMILY, "project colleague: fortnightly meetings until the project ended (overdue)"),
    (DICKENS, "acquaintance: one note last winter; overdue, but the weakest tie: left out"),
    (HARRIET, "sends a save-the-date to a crowd of 17: not personal"),
    (VENDOR, "vendor: Ada declined his meeting"),
)

BODIES = (
    "Thanks, that works for me.",
    "Lovely to hear from you! More soon.",
    "See you then.",
    "Attached the notes we talked about (well, not attached: I'll bring them).",
    "Good idea. Let me check my calendar and get back to you.",
    "Ha! Yes, exactly that.",
    "Sounds good. Tuesday or Thursday?",
    "I have been meaning to write for a while.",
    "From the minutes: nothing urgent, just keeping you posted.",
)


_FIRST = (
    "Alice",
    "Bruno",
    "Carmen",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hugo",
    "Ines",
    "Jonas",
    "Katya",
    "Luis",
    "Mei",
    "Nils",
    "Olga",
    "Pavel",
    "Quinn",
    "Rosa",
    "Sven",
    "Tariq",
)
_LAST = (
    "Abbott",
    "Berg",
    "Costa",
    "Dahl",
    "Evans",
    "Fischer",
    "Gupta",
    "Hansen",
    "Ito",
    "Jensen",
    "Kaur",
    "Lund",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Rossi",
    "Silva",
    "Tan",
    "Weber",
)


def colleagues(n: int) -> list[Addr]:
    names = [(f, _LAST[(i * 7 + 3) % len(_LAST)]) for i, f in enumerate(_FIRST)]
    names += [(f, _LAST[(i * 11 + 5) % len(_LAST)]) for i, f in enumerate(_FIRST)]
    return [(f"{f} {la}", f"{f.lower()}.{la.lower()}@lab.example") for f, la in names[:n]]


def mentor_months(today: date) -> tuple[date, date, date]:
    """The mentor's last monthly meeting (about eight weeks ago), a skipped and a moved one."""
    last = today - timedelta(days=58)
    last -= timedelta(days=max(0, last.day - 28))  # a day every month has
    return last, months_back(last, 15), months_back(last, 9)


def lunch_days() -> list[int]:
    """Days ago of the quarterly lunches: about every 91 days, the last 170 days ago."""
    return [170 + 91 * k + (k * 5) % 7 - 3 for k in range(7)]


def months_back(d: date, months: int) -> date:
    """``d`` moved ``months`` back (forward if negative); a day the target month lacks
    becomes its last day."""
    y, m = divmod(d.year * 12 + d.month - 1 - months, 12)
    return date(y, m + 1, min(d.day, monthrange(y, m + 1)[1]))
