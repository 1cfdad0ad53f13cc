"""The demo calendar: recurring series with exceptions, crowds, declines, future plans."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from syncd.demo_data.cast import (
    CEO,
    CHARLES,
    CHLOE,
    EMILY,
    FARADAY,
    GRACE,
    GRACE_NEW,
    JOSE,
    LISE,
    MARY,
    ME,
    MEDORA,
    MOTHER,
    RAMANUJAN,
    TESLA,
    TZ,
    VENDOR,
    ZOE,
    colleagues,
    lunch_days,
    mentor_months,
    months_back,
)
from syncd.demo_data.writer import Writer, until


def calendar(w: Writer) -> None:
    me_ok = (ME, "ACCEPTED")
    # Mentor: monthly until ~8 weeks ago; one month skipped, one moved.
    last_day, skipped_day, moved_day = mentor_months(w.today)
    last = last_day
    start = datetime.combine(months_back(last, 22), time(10, 0), tzinfo=TZ)
    skipped = datetime.combine(skipped_day, time(10, 0), tzinfo=TZ)
    moved = datetime.combine(moved_day, time(10, 0), tzinfo=TZ)
    w.event(
        "mentoring-charles@demo.syncd",
        start,
        60,
        "Monthly catch-up",
        CHARLES,
        [(CHARLES, "ACCEPTED"), me_ok],
        rrule=f"FREQ=MONTHLY;UNTIL={until(last)}",
        exdates=[skipped],
    )
    w.event(
        "mentoring-charles@demo.syncd",
        moved + timedelta(days=2, hours=4),
        60,
        "Monthly catch-up (moved)",
        CHARLES,
        [(CHARLES, "ACCEPTED"), me_ok],
        recurrence_id=moved,
        sequence=1,
    )
    # Team: weekly on Tuesdays, ongoing; one week skipped, one cancelled, one moved.
    first_tue = w.today - timedelta(days=540)
    first_tue += timedelta(days=(1 - first_tue.weekday()) % 7)
    tue = datetime.combine(first_tue, time(10, 0), tzinfo=TZ)
    team = [
        (ZOE, "ACCEPTED"),
        me_ok,
        (LISE, "ACCEPTED"),
        (RAMANUJAN, "TENTATIVE"),
        (TESLA, "ACCEPTED"),
    ]
    uid = "team-sync@demo.syncd"
    w.event(
        uid,
        tue,
        45,
        "Weekly team sync",
        ZOE,
        team,
        rrule="FREQ=WEEKLY;BYDAY=TU",
        exdates=[tue + timedelta(weeks=30)],
    )
    w.event(
        uid,
        tue + timedelta(weeks=62),
        45,
        "Weekly team sync",
        ZOE,
        team,
        recurrence_id=tue + timedelta(weeks=62),
        status="CANCELLED",
        sequence=2,
    )
    w.event(
        uid,
        tue + timedelta(weeks=45, days=1, hours=4),
        45,
        "Weekly team sync (moved)",
        ZOE,
        team,
        recurrence_id=tue + timedelta(weeks=45),
        sequence=1,
    )
    # A project that ended eight months ago: fortnightly, then nothing.
    w.event(
        "project-analytical@demo.syncd",
        w.day(600, 14, 0),
        30,
        "Project Analytical: sync",
        EMILY,
        [(EMILY, "ACCEPTED"), me_ok],
        rrule=f"FREQ=WEEKLY;INTERVAL=2;UNTIL={until(w.today - timedelta(days=240))}",
    )
    # Quarterly lunches with a former colleague, the last one six months ago.
    for k, ago in enumerate(lunch_days()):
        w.event(
            f"lunch-mary-{k}@demo.syncd",
            w.day(ago, 12, 30),
            90,
            "Lunch with Mary",
            ME,
            [me_ok, (MARY, "ACCEPTED")],
        )
    # Coffee with Chloé every five weeks, the next one in ten days.
    for k, ago in enumerate([-10, *range(33, 700, 35)]):
        w.event(
            f"coffee-chloe-{k}@demo.syncd",
            w.day(ago, 8, 30),
            45,
            "Coffee with Chloé",
            CHLOE,
            [(CHLOE, "ACCEPTED"), me_ok],
        )
    for k, ago in enumerate([-12, *range(20, 700, 61)]):
        w.event(
            f"family-lunch-{k}@demo.syncd",
            w.day(ago, 13, 0),
            120,
            "Family lunch",
            MEDORA,
            [(MEDORA, "ACCEPTED"), me_ok, (MOTHER, "ACCEPTED")],
        )
    for k, ago in enumerate((90, 200, 320, 480)):
        w.event(
            f"dinner-grace-{k}@demo.syncd",
            w.day(ago, 19, 30),
            150,
            "Dinner with Grace",
            ME,
            [me_ok, (GRACE if ago > 365 else GRACE_NEW, "ACCEPTED")],
        )
    # Company all-hands: 40 attendees, monthly on the first Thursday. Too big to be contact.
    crowd = [(a, "ACCEPTED") for a in colleagues(34)]
    month = months_back(w.today - timedelta(days=700), -1).replace(day=1)
    first_thursday = month + timedelta(days=(3 - month.weekday()) % 7)
    w.event(
        "all-hands@demo.syncd",
        datetime.combine(first_thursday, time(16, 0), tzinfo=TZ),
        60,
        "Company all-hands",
        CEO,
        [(CEO, "ACCEPTED"), me_ok, *team[:1], *team[2:], *crowd],
        rrule="FREQ=MONTHLY;BYDAY=1TH",
    )
    # Declined, cancelled, tentative, not yet answered, and a trip without anyone.
    w.event(
        "vendor-pitch@demo.syncd",
        w.day(20, 15, 0),
        60,
        "Difference Engine Mk II: demo",
        VENDOR,
        [(VENDOR, "ACCEPTED"), (ME, "DECLINED")],
    )
    w.event(
        "dinner-jose@demo.syncd",
        w.day(80, 20, 0),
        120,
        "Dinner with José",
        JOSE,
        [(JOSE, "ACCEPTED"), me_ok],
        status="CANCELLED",
        sequence=1,
    )
    w.event(
        "reading-group@demo.syncd",
        w.day(150, 18, 0),
        90,
        "Reading group: Menabrea",
        LISE,
        [(LISE, "ACCEPTED"), (ME, "TENTATIVE")],
    )
    w.event(
        "lab-visit@demo.syncd",
        w.day(-5, 11, 0),
        120,
        "Lab visit",
        FARADAY,
        [(FARADAY, "ACCEPTED"), (ME, "NEEDS-ACTION")],
    )
    trip = w.today - timedelta(days=75)
    w.event(
        "lisbon-trip@demo.syncd",
        datetime.combine(trip, time(0, 0)),
        0,
        "Lisbon conference",
        None,
        [],
        all_day_until=trip + timedelta(days=3),
        transparent=True,
    )
