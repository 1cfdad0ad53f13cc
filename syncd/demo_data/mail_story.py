"""The demo mailbox: the cast's threads, and the noise around them."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from syncd.demo_data.cast import (
    AUGUSTUS,
    CHARLES,
    CHLOE,
    DICKENS,
    EMILIE,
    EMILY,
    FARADAY,
    FLORENCE,
    GOSIA,
    GRACE,
    GRACE_NEW,
    HARRIET,
    HIROSHI,
    JOSE,
    LISE,
    MARY,
    ME,
    MEDORA,
    RAMANUJAN,
    TESLA,
    TZ,
    ZOE,
    colleagues,
    lunch_days,
    mentor_months,
    months_back,
)
from syncd.demo_data.writer import Writer


def friends(w: Writer) -> None:
    grace_subjects = (
        "Saturday?",
        "that book you mentioned",
        "photos from the hike",
        "Compilers reading group",
        "dinner next week",
        "nanoseconds, again",
        "Your talk",
        "Quick question",
        "the bug in my loom",
    )
    # Grace changed jobs a year ago: two addresses, merged by a [[people]] hint.
    w.rhythm(GRACE, grace_subjects, every=7, spread=1, first=730, last=372)
    w.rhythm(
        GRACE_NEW,
        grace_subjects,
        every=7,
        spread=1,
        first=365,
        last=61,
        last_subject="the Lisbon conference",
    )
    # Ada started writing to her and never sent it: a draft is not contact.
    w.mail(
        w.day(20, 22, 14),
        ME,
        [GRACE_NEW],
        "Been a while!",
        labels="Draft",
        body="Grace! It has been ages. How is the new",
    )
    w.rhythm(
        MEDORA,
        (
            "Sunday call?",
            "Mum's birthday present",
            "the cat",
            "Christmas plans",
            "photos",
            "train times",
            "Your flat",
        ),
        every=14,
        spread=2,
        first=730,
        last=4,
    )
    w.rhythm(
        JOSE,
        ("Café on Saturday?", "¿Qué tal?", "the football", "Book club: next pick"),
        every=21,
        spread=3,
        first=700,
        last=45,
        last_subject="Café on Saturday?",
    )
    w.rhythm(
        GOSIA,
        ("Zdjęcia z Krakowa", "Conference in Kraków", "Hello from Gdańsk", "pierogi recipe"),
        every=42,
        spread=5,
        first=720,
        last=150,
    )
    w.rhythm(
        FLORENCE,
        ("Statistics for the report", "Coxcomb charts", "News from Scutari"),
        every=60,
        spread=6,
        first=720,
        last=100,
    )
    w.rhythm(
        AUGUSTUS,
        ("Calculus notes", "A puzzle for you", "the syllogism", "Reading list"),
        every=30,
        spread=4,
        first=600,
        last=50,
    )
    # Ada's latest note to her tutor got an out-of-office reply: not a reply from him.
    mid, refs, thread = w.mail(w.day(9, 10, 5), ME, [AUGUSTUS], "Question about the calculus notes")
    w.mail(
        w.day(9, 10, 6),
        AUGUSTUS,
        [ME],
        "Automatic reply: Question about the calculus notes",
        parent=(mid, refs),
        thread=thread,
        labels="Inbox",
        extra=[("Auto-Submitted", "auto-replied"), ("X-Autoreply", "yes")],
        body="I am away until the end of the month with limited access to email.",
    )
    # Hiroshi writes from Tokyo: Date headers in +0900.
    tokyo = ZoneInfo("Asia/Tokyo")
    ago = 30
    while ago < 700:
        at = w.day(ago, w.rng.randint(9, 18), 12, tz=tokyo)
        w.exchange(
            at,
            HIROSHI,
            w.rng.choice(("京都の写真", "Next conference", "Tea")),
            starter="them",
            count=2,
        )
        ago += 60 + w.jitter(8)
    w.rhythm(
        FARADAY,
        ("Induction coil", "Lecture on Friday", "Field lines"),
        every=35,
        spread=5,
        first=500,
        last=40,
    )
    # The two people waiting on Ada's reply.
    w.mail(
        w.day(6, 16, 48),
        FARADAY,
        [ME],
        "Could you look at the induction figures?",
        labels="Important,Inbox,Opened",
        body="When you have a moment: do the numbers in table 2 look right to you?",
    )
    w.mail(
        w.day(2, 9, 31),
        EMILIE,
        [ME],
        "Your notes on the Analytical Engine",
        labels="Inbox,Unread",
        body="I read your notes with great pleasure. May I ask...",
    )
    # Mentor and former colleague: a few emails on meeting days (see _calendar).
    last, skipped, moved = mentor_months(w.today)
    for k in range(0, 22, 3):
        day = months_back(last, k)
        if day not in (skipped, moved):
            at = datetime.combine(day, time(17, 30), tzinfo=TZ)
            w.exchange(at, CHARLES, "Notes from today's catch-up", starter="me")
    for ago in lunch_days():
        w.exchange(w.day(ago, 15, 10), MARY, "Lovely lunch today", starter="them", count=3)
    # An acquaintance: one note last winter, to him and two others, never answered.
    # Overdue by the default rhythm, but the weakest tie of all: the digest leaves him out.
    w.mail(
        w.day(300, 11, 20),
        ME,
        [DICKENS, ("Wilkie Collins", "wilkie@example.co.uk"), FLORENCE],
        "That reading in Birmingham",
    )


def team_and_crowds(w: Writer) -> None:
    ago = 530
    while ago > 3:
        mid, refs, thread = w.mail(
            w.day(ago, 9, 2), ZOE, [ME], "Agenda for Tuesday", cc=[LISE, RAMANUJAN, TESLA]
        )
        if w.rng.random() < 0.6:
            w.mail(
                w.day(ago, 9, 40),
                ME,
                [ZOE],
                "Re: Agenda for Tuesday",
                cc=[LISE, RAMANUJAN, TESLA],
                parent=(mid, refs),
                thread=thread,
            )
        ago -= 21 + w.jitter(3)
    for ago in (560, 500, 430):
        w.exchange(w.day(ago, 11, 0), EMILY, "Project Analytical: minutes", starter="them")
    # A save-the-date to 17 people, and Ada's own change-of-address mail to 18: crowds.
    crowd = colleagues(40)[20:36]
    w.mail(w.day(35, 19, 20), HARRIET, [ME, *crowd], "Soirée on the 14th: save the date")
    friends = [
        GRACE_NEW,
        MEDORA,
        MARY,
        JOSE,
        GOSIA,
        FLORENCE,
        AUGUSTUS,
        CHLOE,
        HIROSHI,
        EMILY,
        ("Charles Dickens", "dickens@example.co.uk"),
        *crowd[:7],
    ]
    mid, _, thread = w.mail(w.day(200, 20, 0), ME, [ME], "New address", bcc=friends)
    w.mail(
        w.day(200, 20, 1),
        ("Mail Delivery Subsystem", "mailer-daemon@googlemail.example"),
        [ME],
        "Delivery Status Notification (Failure)",
        thread=thread,
        labels="Inbox",
        extra=[("Auto-Submitted", "auto-replied"), ("Return-Path", "<>")],
        body="Address not found: your message wasn't delivered to old-address@example.com.",
    )
    # A known person's post to a mailing list is list traffic, not contact.
    posters = [
        ("Alan Turing", "alan.turing@example.ac.uk"),
        ("Claude Shannon", "claude@example.com"),
        LISE,
    ]
    lst = ("Analytical Engines", "engines@lists.example.org")
    ago = 720
    parent: tuple[str, str] | None = None
    list_thread: int | None = None
    topic = ""
    while ago > 1:
        new = parent is None or w.rng.random() < 0.4
        if new:
            topic = w.rng.choice(
                (
                    "Looping constructs",
                    "Punched card formats",
                    "Bernoulli numbers",
                    "Meetup in Manchester",
                )
            )
        mid, refs, list_thread = w.mail(
            w.day(ago, w.rng.randint(7, 22), 15),
            w.rng.choice(posters),
            [lst],
            topic if new else f"Re: {topic}",
            parent=None if new else parent,
            thread=None if new else list_thread,
            labels="Analytical Engines,Opened",
            extra=[
                ("List-Id", "Analytical Engines <engines.lists.example.org>"),
                ("List-Unsubscribe", "<mailto:engines-leave@lists.example.org>"),
                ("Precedence", "list"),
            ],
        )
        parent = (mid, refs)
        ago -= 6 + w.jitter(3)


def noise(w: Writer) -> None:
    review = ("Sophie at The Analytical Review", "sophie@analytical-review.example")
    for n, ago in enumerate(range(728, 0, -7)):
        w.mail(
            w.day(ago, 7, 0),
            review,
            [ME],
            f"The Analytical Review #{n + 1}: this week in engines",
            labels="Inbox,Category Updates,Opened",
            extra=[
                (
                    "List-Unsubscribe",
                    "<mailto:unsub@analytical-review.example>, "
                    "<https://analytical-review.example/u/7f3a>",
                ),
                ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                ("Precedence", "bulk"),
            ],
        )
    shop = ("Babbage & Co.", "offers@babbage-co.example")
    for ago in range(725, 0, -11):
        w.mail(
            w.day(ago, 12, 30),
            shop,
            [ME],
            "20% off brass gears — this weekend only",
            labels="Category Promotions,Unread",
            extra=[("List-Unsubscribe", "<https://babbage-co.example/unsubscribe>")],
        )
    for n, ago in enumerate(range(300, 0, -5)):
        w.mail(
            w.day(ago, 14, 45),
            ("GitHub", "notifications@github.example"),
            [ME],
            f"[ada/notes] Issue #{n + 12}: Note G produces wrong sign",
            labels="Inbox",
        )
    for ago in range(715, 0, -30):
        w.mail(
            w.day(ago, 6, 10),
            ("Bank of Example", "no-reply@bank.example"),
            [ME],
            "Your statement is ready",
            labels="Inbox",
        )
    for ago in range(360, 0, -29):
        w.mail(
            w.day(ago, 6, 40),
            ("Google Calendar", "calendar-notification@google.example"),
            [ME],
            "Reminder: Weekly team sync",
            labels="Inbox",
            extra=[("Auto-Submitted", "auto-generated")],
        )
    for ago in range(400, 0, -33):
        w.mail(
            w.day(ago, 3, 3),
            ("Prince Adewale", "prince@lottery.example"),
            [ME],
            "URGENT: claim your inheritance",
            labels="Spam,Category Promotions,Unread",
        )
