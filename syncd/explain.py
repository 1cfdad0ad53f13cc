"""``syncd explain PERSON``: every interaction with a person, whether it counted, and why.

This answers "why is Grace listed?" and "why is Bob missing?" with the same rules that decide
(syncd.rules.RuleSet.judge), so the explanation cannot drift from the behaviour.
"""

from __future__ import annotations

from datetime import UTC, datetime

from syncd.config import Config
from syncd.digest import build_digest
from syncd.errors import UserError
from syncd.relationships import Person
from syncd.relationships_reader import Relationships
from syncd.store import Store


def explain_person(
    store: Store, config: Config, query: str, as_of: datetime, limit: int | None = None
) -> str:
    model = Relationships(store, config)
    person = model.find_one(query, as_of)
    if person:
        addresses = person.emails
    else:
        addresses = store.addresses_matching(query, limit=20)
        if not addresses:
            raise UserError(f"no interaction with anyone matching {query!r}")
        if len(addresses) > 1 and query.strip().lower() not in addresses:
            raise UserError(
                f"{query!r} matches {len(addresses)} addresses: {', '.join(addresses[:10])}. "
                "Give one address."
            )
        if query.strip().lower() in addresses:
            addresses = [query.strip().lower()]
    lines: list[str] = []
    as_of_ts = int(as_of.timestamp())
    lines.append(f"As of {as_of.astimezone(model.rules.tz):%Y-%m-%d %H:%M %Z}:")
    if person:
        lines.extend(_summary(store, config, model, person, as_of))
    else:
        reason = model.rules.address_reason(addresses[0])
        lines.append(f"{addresses[0]}: no interaction counts as contact.")
        if reason:
            lines.append(f"  This address is never a person: {reason}.")
    ids = store.interaction_ids_for(addresses)
    items = sorted(store.load_interactions(ids), key=lambda i: i.occurred_at, reverse=True)
    total = len(items)
    if limit:
        items = items[:limit]
    lines.append("")
    lines.append(f"Interactions ({total}{f', newest {len(items)} shown' if limit else ''}):")
    wanted = set(addresses)
    for it in items:
        when = it.occurred_at.astimezone(model.rules.tz).strftime("%Y-%m-%d %H:%M")
        kind = "Meeting" if it.kind == "meeting" else "Email"
        subject = " ".join((it.subject or "(no subject)").split())[:70]
        verdicts = [v for v in model.rules.judge(it) if v.address in wanted]
        if not verdicts:
            reason = "not contact: only you and your own addresses"
            if any(p.address in wanted for p in it.participants):
                reason = "not contact: " + (model.rules.address_reason(addresses[0]) or "excluded")
            verdict_text = reason
        else:
            v = verdicts[0]
            verdict_text = v.reason
            if v.counts and it.occurred_at.timestamp() > as_of_ts:
                verdict_text = "not yet: upcoming meeting"
        mark = "+" if verdict_text.startswith("contact") else "-"
        lines.append(f"  {mark} {when}  {kind}: {subject}")
        lines.append(f"      {verdict_text}  [{it.source}]")
    return "\n".join(lines)


def _summary(
    store: Store, config: Config, model: Relationships, p: Person, as_of: datetime
) -> list[str]:
    out = [f"{p.name} <{', '.join(p.emails)}>"]
    if not p.tracked:
        out.append(
            "  Not tracked: you have never written to them or met them "
            "(people who only write to you are not relationships)."
        )
    last = p.last_contact
    if last:
        out.append(
            f"  Last contact: {last.astimezone(model.rules.tz):%Y-%m-%d} "
            f"({_days_ago(p.days_since)}); {_count(p.contact_days, 'contact day')} in all."
        )
    else:
        out.append("  No contact yet.")
    source = {"pinned": "pinned", "inferred": "inferred from your history", "default": "default"}
    out.append(f"  Rhythm: every {_count(p.rhythm_days, 'day')} ({source[p.rhythm_source]}).")
    threshold = p.rhythm_days * (1 + config.rules.slack)
    if p.overdue:
        out.append(
            f"  Overdue by {_count(p.overdue_days, 'day')} (past {threshold:.0f} days = rhythm + "
            f"{config.rules.slack:.0%} slack)."
        )
    elif p.tracked:
        out.append(f"  Not overdue: due after {threshold:.0f} days without contact.")
    if p.muted:
        out.append("  Muted: never listed in the digest.")
    if p.snoozed_until and p.snoozed_until > as_of.astimezone(model.rules.tz).date():
        out.append(f"  Snoozed until {p.snoozed_until.isoformat()}.")
    if p.forgotten:
        out.append(
            f"  Out of touch for over {config.rules.forget_after} days: no longer suggested."
        )
    if p.overdue and p.tracked:
        d = build_digest(store, config, as_of.astimezone(UTC))
        rank = next((i for i, x in enumerate(d.people, 1) if set(x.emails) & set(p.emails)), None)
        if rank:
            out.append(f"  In this week's digest: #{rank} of {len(d.people)}.")
        elif not p.muted:
            out.append(
                f"  Not in this week's digest: {d.overdue_total} people are overdue and only "
                f"the {config.digest.max_people} with the strongest ties are listed "
                f"(score {p.score:.2f})."
            )
    return out


def _count(n: int, noun: str) -> str:
    """``1 contact day``, ``2 contact days``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _days_ago(days: int | None) -> str:
    if not days:
        return "today"
    if days == 1:
        return "yesterday"
    return f"{days} days ago"
