"""Build the digest: pure data from the relationship model (no rendering, no sending)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

from syncd.config import Config
from syncd.digest_model import (
    AwaitingReply,
    Birthday,
    Digest,
    DigestPerson,
    LastContact,
    SourceHealth,
)
from syncd.relationships import Person
from syncd.relationships_reader import Relationships
from syncd.store import Store


def period_of(as_of: datetime, timezone_name: str) -> str:
    """The digest period containing ``as_of``: its ISO week in the user's zone."""
    from zoneinfo import ZoneInfo

    y, w, _ = as_of.astimezone(ZoneInfo(timezone_name)).isocalendar()
    return f"{y}-W{w:02d}"


def mailto(address: str, subject: str) -> str:
    return f"mailto:{quote(address, safe='@')}?subject={quote(subject, safe='')}"


def reply_subject(subject: str | None) -> str:
    if not subject:
        return "Catching up"
    s = " ".join(subject.split())  # no CR/LF or runs of blanks in a header
    return s if s.lower().startswith("re:") else f"Re: {s}"


def _next_birthday(bday: date, today: date) -> date:
    for year in (today.year, today.year + 1):
        try:
            d = bday.replace(year=year)
        except ValueError:  # 29 February in a common year
            d = date(year, 3, 1)
        if d >= today:
            return d
    return date(today.year + 1, bday.month, min(bday.day, 28))


def source_health(store: Store, config: Config) -> tuple[SourceHealth, ...]:
    states = {s.name: s for s in store.source_states()}
    out = []
    for name, src in config.sources.items():
        if not src.get("enabled", True):
            continue
        st = states.get(name)
        if st is None or (st.last_ok_at is None and st.last_error is None):
            out.append(
                SourceHealth(name, src.type, "never_synced", None, None, f"syncd sync {name}")
            )
        elif st.auth_state == "needs_reauth":
            out.append(
                SourceHealth(
                    name,
                    src.type,
                    "needs_reauth",
                    st.last_ok_at,
                    st.last_error,
                    f"syncd auth {name}",
                )
            )
        elif st.last_error and (
            st.last_ok_at is None or (st.last_attempt_at or st.last_ok_at) > st.last_ok_at
        ):
            out.append(
                SourceHealth(
                    name, src.type, "error", st.last_ok_at, st.last_error, f"syncd sync {name}"
                )
            )
        else:
            out.append(SourceHealth(name, src.type, "ok", st.last_ok_at, None, None))
    return tuple(out)


def _describe_last(model: Relationships, p: Person, as_of_ts: int) -> LastContact | None:
    found = model.last_interaction(p.emails, as_of_ts)
    if not found:
        return None
    it = model.interaction(found.interaction_id)
    return LastContact(
        at=it.occurred_at,
        kind="meeting" if it.kind == "meeting" else "email",
        subject=it.subject,
        direction="both" if found.dir == "meet" else found.dir,  # type: ignore[arg-type]
    )


def build_digest(store: Store, config: Config, as_of: datetime | None = None) -> Digest:
    as_of = as_of or datetime.now(UTC)
    model = Relationships(store, config)
    as_of_ts = int(as_of.timestamp())
    everyone = model.people(as_of, include_untracked=True)
    today = as_of.astimezone(model.rules.tz).date()
    rules = config.rules

    def visible(p: Person) -> bool:
        return not p.muted and not (p.snoozed_until and p.snoozed_until > today)

    tracked = [p for p in everyone if p.tracked]
    overdue = [p for p in tracked if p.overdue and not p.forgotten and visible(p)]
    overdue.sort(key=lambda p: (-p.score, p.name.lower()))
    chosen = overdue[: config.digest.max_people]

    people = []
    for p in chosen:
        last = _describe_last(model, p, as_of_ts)
        months = model.monthly(p.emails, as_of)
        subj = reply_subject(last.subject if last and last.kind == "email" else None)
        people.append(
            DigestPerson(
                name=p.name,
                emails=tuple(p.emails),
                last_contact=last,
                rhythm_days=p.rhythm_days,
                rhythm_source=p.rhythm_source,  # type: ignore[arg-type]
                days_since=p.days_since,
                overdue_days=p.overdue_days,
                score=round(p.score, 3),
                contact_days=p.contact_days,
                monthly=tuple(n for _, n in months),
                months=tuple(label for label, _ in months),
                reply_subject=subj,
                mailto=mailto(p.emails[0], subj),
            )
        )

    awaiting = []
    window = rules.awaiting_reply_days * 86400
    for p in everyone:
        if not visible(p) or not p.last_in_ts or p.last_in_ts <= p.last_mine_ts:
            continue
        if as_of_ts - p.last_in_ts > window:
            continue
        iid = model.last_incoming(p.emails, as_of_ts)
        it = store.load_interactions([iid])[0] if iid else None
        sender = next(
            (x.address for x in (it.participants if it else ()) if x.role == "from"), p.emails[0]
        )
        subj = reply_subject(it.subject if it else None)
        received = datetime.fromtimestamp(p.last_in_ts, UTC)
        awaiting.append(
            AwaitingReply(
                name=p.name,
                email=sender,
                received_at=received,
                subject=it.subject if it else None,
                days_waiting=(today - received.astimezone(model.rules.tz).date()).days,
                mailto=mailto(sender, subj),
            )
        )
    awaiting.sort(key=lambda a: a.received_at)

    birthdays = []
    horizon = today + timedelta(days=config.digest.birthday_days)
    for p in everyone:
        if p.birthday and visible(p):
            nxt = _next_birthday(p.birthday, today)
            if nxt <= horizon:
                birthdays.append(Birthday(p.name, p.emails[0], nxt, (nxt - today).days))
    birthdays.sort(key=lambda b: (b.on, b.name))

    return Digest(
        as_of=as_of,
        period=period_of(as_of, config.me.timezone),
        me_name=config.me.name,
        people=tuple(people),
        awaiting_reply=tuple(awaiting),
        birthdays=tuple(birthdays),
        sources=source_health(store, config),
        considered=len(tracked),
        overdue_total=len(overdue),
        extra={"timezone": config.me.timezone},
    )
