"""Commands about people: ``people`` (the list, ``--suggest`` for likely duplicates, and
``people merge`` / ``people unmerge`` from syncd.commands_merge), ``explain`` (why a person is
listed or missing), and the per-person settings ``snooze``, ``mute``/``unmute`` and
``rhythm`` (kept in the store, honoured by the digest)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import click

from syncd.cli_state import AppState, as_of_option, parse_as_of, pass_state
from syncd.commands_merge import people_merge, people_unmerge, show_suggestions, suggestion_hint
from syncd.config import Config
from syncd.errors import UserError
from syncd.options import OptionValueError, days
from syncd.store import Store


# ---------------------------------------------------------------------------------- people
@click.group(invoke_without_command=True)
@as_of_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--all", "show_all", is_flag=True, help="Also list people who only wrote to you.")
@click.option(
    "--suggest",
    is_flag=True,
    help="List likely duplicates (one name on two people), each with the command that merges it.",
)
@click.pass_context
def people(ctx: click.Context, as_of: str | None, fmt: str, show_all: bool, suggest: bool) -> None:
    """List the people you are in touch with: last contact, rhythm, overdue."""
    if ctx.invoked_subcommand is not None:
        return
    from syncd.relationships_reader import Relationships

    state: AppState = ctx.obj
    if suggest:
        show_suggestions(state, fmt)
        return
    config = state.config
    when = parse_as_of(as_of, config.me.timezone)
    model = Relationships(state.reader(), config)
    found = model.people(when, include_untracked=show_all)
    found.sort(key=lambda p: (not p.overdue, -p.score, -(p.last_ts or 0), p.name.lower()))
    if fmt == "json":
        click.echo(json.dumps([p.as_json() for p in found], indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("Nobody yet: run `syncd sync` first, or check your [me] emails.")
        return
    # Dates a person reads are in their own zone (JSON keeps the UTC instant, with its offset).
    tz = ZoneInfo(config.me.timezone)
    today = when.astimezone(tz).date()
    rows = [("NAME", "EMAIL", "LAST CONTACT", "RHYTHM", "STATUS")]
    for p in found:
        last = p.last_contact.astimezone(tz).date().isoformat() if p.last_contact else "never"
        if p.muted:
            status = "muted"
        elif p.snoozed_until and p.snoozed_until > today:
            status = f"snoozed until {p.snoozed_until.isoformat()}"
        elif p.overdue:
            status = f"overdue {p.overdue_days}d"
        elif not p.tracked:
            status = "wrote to you"
        else:
            status = "ok"
        rhythm = f"{p.rhythm_days}d" + (
            "" if p.rhythm_source == "inferred" else f" ({p.rhythm_source})"
        )
        rows.append((p.name, p.emails[0], last, rhythm, status))
    widths = [min(max(len(r[i]) for r in rows), 40) for i in range(5)]
    for r in rows:
        click.echo("  ".join(c[:40].ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    duplicates = len(model.merge_suggestions())
    if duplicates:
        click.echo(suggestion_hint(duplicates))


people.add_command(people_merge)
people.add_command(people_unmerge)


# ---------------------------------------------------------------------------------- explain
@click.command()
@click.argument("person")
@as_of_option
@click.option("--limit", type=int, default=0, help="Show only the newest N interactions.")
@pass_state
def explain(state: AppState, person: str, as_of: str | None, limit: int) -> None:
    """Why PERSON (a name or address) is listed, or missing: every interaction and its verdict."""
    from syncd.explain import explain_person

    config = state.config
    when = parse_as_of(as_of, config.me.timezone)
    click.echo(explain_person(state.reader(), config, person, when, limit=limit or None))


# ---------------------------------------------------------------------------------- settings
def _today(config: Config) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(config.me.timezone)).date()


def resolve_person(store: Store, config: Config, query: str) -> tuple[str, str]:
    """(key address, display label) of the one person ``query`` (a name or address) means."""
    from syncd.relationships_reader import Relationships

    q = query.strip()
    p = Relationships(store, config).find_one(q, datetime.now(UTC))
    if p:
        return p.key, f"{p.name} <{p.emails[0]}>"
    if "@" in q and " " not in q:  # someone not seen yet: keep the setting for later
        return q.lower(), q.lower()
    raise UserError(f"nobody matches {query!r} (give a name from `syncd people`, or an address)")


def _span_days(value: str, what: str) -> int:
    """A SPAN argument (30d, 6w) in days; a bad one is a UserError naming ``what``."""
    try:
        return days(value)
    except OptionValueError as e:
        raise UserError(f"{what}: {e} (e.g. 30d, 6w)") from None


@click.command()
@click.argument("person")
@click.argument("span", required=False)
@click.option("--until", "until_s", metavar="DATE", help="Snooze until this date (YYYY-MM-DD).")
@click.option("--undo", is_flag=True, help="End the snooze now.")
@pass_state
def snooze(state: AppState, person: str, span: str | None, until_s: str | None, undo: bool) -> None:
    """Keep PERSON out of the digest for SPAN (e.g. 30d, 6w) or --until a date."""
    from syncd.settings import snooze as set_snooze

    config, store = state.config, state.store()
    key, label = resolve_person(store, config, person)
    if undo:
        set_snooze(store, key, None)
        click.echo(f"{label}: no longer snoozed.")
        return
    if until_s and span:
        raise UserError("give either SPAN or --until, not both")
    today = _today(config)
    # Examples in messages are real dates ahead of today, never a fixed one that has passed.
    example = (today + timedelta(days=30)).isoformat()
    if until_s:
        try:
            until = date.fromisoformat(until_s)
        except ValueError:
            raise UserError(
                f"--until: expected a date such as {example}, got {until_s!r}"
            ) from None
    elif span:
        until = today + timedelta(days=_span_days(span, "SPAN"))
    else:
        raise UserError(f"how long? e.g. `syncd snooze PERSON 30d` or --until {example}")
    if until <= today:
        raise UserError(
            f"{until.isoformat()} is not in the future (today is {today.isoformat()}; "
            f"e.g. --until {example})"
        )
    set_snooze(store, key, until)
    click.echo(f"Snoozed {label} until {until.isoformat()}: not in a digest before then.")


@click.command()
@click.argument("person")
@click.option("--undo", is_flag=True, help="Unmute.")
@pass_state
def mute(state: AppState, person: str, undo: bool) -> None:
    """Never list PERSON in the digest (undo with --undo or `syncd unmute`)."""
    _mute(state, person, not undo)


@click.command()
@click.argument("person")
@pass_state
def unmute(state: AppState, person: str) -> None:
    """List PERSON in the digest again when overdue."""
    _mute(state, person, False)


def _mute(state: AppState, person: str, muted: bool) -> None:
    from syncd.settings import mute as set_mute

    config, store = state.config, state.store()
    key, label = resolve_person(store, config, person)
    set_mute(store, key, muted)
    if muted:
        click.echo(f"Muted {label}: never listed in the digest (undo: syncd unmute {key}).")
        return
    click.echo(f"Unmuted {label}.")
    if any(e.mute and key in e.emails for e in config.people):
        click.echo(f"Note: the config's [[people]] entry for {key} still sets mute = true.")


@click.command()
@click.argument("person")
@click.argument("span", required=False)
@click.option("--clear", is_flag=True, help="Forget the pinned rhythm (infer it again).")
@pass_state
def rhythm(state: AppState, person: str, span: str | None, clear: bool) -> None:
    """Pin how often you want to be in touch with PERSON (e.g. 14d, 3w)."""
    from syncd.settings import set_rhythm

    config, store = state.config, state.store()
    key, label = resolve_person(store, config, person)
    if clear:
        set_rhythm(store, key, None)
        click.echo(f"{label}: rhythm no longer pinned; {_rhythm_now(store, config, key)}.")
        return
    if not span:
        raise UserError("how often? e.g. `syncd rhythm PERSON 14d` (or --clear)")
    n = _span_days(span, "SPAN")
    set_rhythm(store, key, n)
    click.echo(f"{label}: rhythm pinned to every {'day' if n == 1 else f'{n} days'}.")
    if any(e.every and key in e.emails for e in config.people):
        click.echo(f"Note: the config's [[people]] entry for {key} pins `every`, which wins.")


def _rhythm_now(store: Store, config: Config, key: str) -> str:
    """What the person's rhythm is now that the stored pin is gone, and where it comes from."""
    from syncd.relationships_reader import Relationships

    everyone = Relationships(store, config).people(datetime.now(UTC), include_untracked=True)
    p = next((x for x in everyone if x.key == key or key in x.emails), None)
    if p is not None and p.rhythm_source == "pinned":  # the config's [[people]] `every`
        return f"the config's [[people]] entry still pins every {p.rhythm_days} days"
    if p is not None and p.rhythm_source == "inferred":
        return f"now every {p.rhythm_days} days, inferred from your history"
    n = p.rhythm_days if p is not None else config.rules.default_rhythm
    return (
        f"now every {n} days, the default ([rules] default_rhythm): too few contact days "
        "to infer one"
    )


COMMANDS = (people, explain, snooze, mute, unmute, rhythm)
