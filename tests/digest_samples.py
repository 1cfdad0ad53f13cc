"""Hand-made Digest values for the renderer's tests and the screenshot script."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

from syncd.digest_model import (
    AwaitingReply,
    Birthday,
    Digest,
    DigestPerson,
    LastContact,
    SourceHealth,
)

AS_OF = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # a Monday, ISO week 48
MONTHS = tuple(f"{y}-{m:02d}" for y, m in [(2025, 12)] + [(2026, m) for m in range(1, 12)])


def mailto(address: str, subject: str) -> str:
    return f"mailto:{quote(address, safe='@')}?subject={quote(subject, safe='')}"


def person(
    name: str,
    email: str,
    *,
    days_since: int,
    kind: str = "email",
    subject: str | None = "Re: the Lisbon conference",
    rhythm: int = 14,
    source: str = "inferred",
    monthly: tuple[int, ...] = (2, 3, 4, 3, 4, 4, 3, 4, 1, 0, 0, 0),
    reply: str | None = None,
) -> DigestPerson:
    if reply is None:
        reply = "Catching up"
        if subject and kind == "email":
            reply = subject if subject.startswith("Re:") else f"Re: {subject}"
    return DigestPerson(
        name=name,
        emails=(email,),
        last_contact=LastContact(
            at=AS_OF - timedelta(days=days_since),
            kind=kind,  # type: ignore[arg-type]
            subject=subject,
            direction="both" if kind == "meeting" else "out",
        ),
        rhythm_days=rhythm,
        rhythm_source=source,  # type: ignore[arg-type]
        days_since=days_since,
        overdue_days=max(0, days_since - rhythm - 7),
        score=1.0,
        contact_days=sum(monthly) + 20,
        monthly=monthly,
        months=MONTHS,
        reply_subject=reply,
        mailto=mailto(email, reply),
    )


def sample_digest() -> Digest:
    """A full digest: four people, two awaiting replies, a birthday, one source needing re-auth."""
    people = (
        person(
            "Grace Hopper",
            "grace@navy.example",
            days_since=63,
            subject="Re: the Lisbon conference",
            rhythm=7,
            monthly=(4, 5, 4, 4, 5, 3, 4, 4, 2, 0, 0, 0),
        ),
        person(
            "Charles Babbage",
            "charles@engine.example",
            days_since=52,
            kind="meeting",
            subject="Monthly catch-up",
            rhythm=30,
            monthly=(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0),
        ),
        person(
            "Zoë Ångström-Núñez",
            "zoe@lab.example",
            days_since=150,
            kind="meeting",
            subject="Lunch at the Crick",
            rhythm=91,
            source="pinned",
            monthly=(0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0),
        ),
        person(
            "Mary Somerville",
            "mary@somerville.example",
            days_since=40,
            subject="Notes on the mechanism of the heavens",
            rhythm=21,
            source="default",
            monthly=(0, 2, 1, 0, 3, 2, 1, 2, 1, 1, 0, 0),
        ),
    )
    awaiting = (
        AwaitingReply(
            name="Émilie du Châtelet",
            email="emilie@cirey.example",
            received_at=AS_OF - timedelta(days=6),
            subject="Draft of the translation notes",
            days_waiting=6,
            mailto=mailto("emilie@cirey.example", "Re: Draft of the translation notes"),
        ),
        AwaitingReply(
            name="Michael Faraday",
            email="mf@royal.example",
            received_at=AS_OF - timedelta(days=2),
            subject="Could you look at the induction figures?",
            days_waiting=2,
            mailto=mailto("mf@royal.example", "Re: Could you look at the induction figures?"),
        ),
    )
    birthdays = (
        Birthday(
            name="Mary Somerville",
            email="mary@somerville.example",
            on=date(2026, 11, 26),
            in_days=3,
        ),
    )
    sources = (
        SourceHealth("archive", "mbox", "ok", AS_OF - timedelta(hours=2), None, None),
        SourceHealth("calendar", "ics", "ok", AS_OF - timedelta(minutes=20), None, None),
        SourceHealth(
            "personal",
            "google",
            "needs_reauth",
            AS_OF - timedelta(days=9),
            "invalid_grant: Token has been expired or revoked.",
            "syncd auth personal",
        ),
    )
    return Digest(
        as_of=AS_OF,
        period="2026-W48",
        me_name="Ada Lovelace",
        people=people,
        awaiting_reply=awaiting,
        birthdays=birthdays,
        sources=sources,
        considered=143,
        overdue_total=12,
        extra={"timezone": "Europe/London"},
    )


def empty_digest() -> Digest:
    return Digest(
        as_of=AS_OF,
        period="2026-W48",
        me_name="Ada Lovelace",
        people=(),
        awaiting_reply=(),
        sources=(SourceHealth("archive", "mbox", "ok", AS_OF - timedelta(hours=1), None, None),),
        considered=41,
        overdue_total=0,
    )
