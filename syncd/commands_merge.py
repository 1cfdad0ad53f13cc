"""Who is one person, from the command line: ``people merge``, ``people unmerge`` and what
``people --suggest`` prints (the ``people`` group in syncd.commands_people adds them).

The decisions are syncd.merging's pure functions; this module reads the store, asks them, and
says what happened in words. ``--suggest`` only reads.
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from syncd.cli_state import AppState, pass_state
from syncd.config import Config
from syncd.errors import UserError
from syncd.merging import Join, Suggestion, oldest_first, refuse_merge, what_still_joins
from syncd.models import MERGE_CLI, MERGE_DIGEST_ACTION, MERGE_UNMERGE, MergeRecord
from syncd.store import Store


def _and(items: list[str] | tuple[str, ...]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def own_addresses(store: Store, config: Config) -> dict[str, str]:
    """The user's addresses, each with where syncd has it from."""
    own: dict[str, str] = {}
    for state in store.source_states():
        if state.account:
            own.setdefault(state.account.lower(), f"the account of source `{state.name}`")
    own.update({e.lower(): "[me] emails" for e in config.me.emails})
    return own


# ---------------------------------------------------------------------------------- merge
@click.command("merge")
@click.argument("addresses", nargs=-1, required=True)
@pass_state
def people_merge(state: AppState, addresses: tuple[str, ...]) -> None:
    """Merge ADDRESSES (two or more) into one person (undo: `syncd people unmerge`)."""
    from syncd.relationships_reader import Relationships
    from syncd.settings import clean_address, merge_addresses

    addrs = sorted({clean_address(a) for a in addresses})
    if len(addrs) < 2:
        raise UserError("people merge: give at least two addresses (different ones)")
    config, store = state.config, state.store()
    known = store.people.known_addresses(addrs)
    known.update(e.lower() for entry in config.people for e in entry.emails)
    refused = refuse_merge(addrs, own_addresses(store, config), known)
    if refused:
        raise UserError(f"people merge: {refused}")
    ids = Relationships(store, config).identities()
    if len({ids.find(a) for a in addrs}) == 1:
        click.echo(f"{_and(addrs)} are already one person: nothing changed.")
        return
    merge_addresses(store, addrs)
    click.echo(
        f"Merged {len(addrs)} addresses into one person: {_and(addrs)}. "
        "Undo with `syncd people unmerge ADDRESS`."
    )


# ---------------------------------------------------------------------------------- unmerge
@click.command("unmerge")
@click.argument("address")
@pass_state
def people_unmerge(state: AppState, address: str) -> None:
    """Split ADDRESS back out of its person: undoes `people merge` and digest "Same person"
    links (a [[people]] entry or an address-book contact that lists it: edit those)."""
    from syncd.settings import clean_address, unmerge_address

    addr = clean_address(address)
    config, store = state.config, state.store()
    joins = what_still_joins(
        addr, config.people, store.book_entries(), own_addresses(store, config)
    )
    done = unmerge_address(store, addr)
    where = [_join_text(addr, j, config) for j in joins]
    if not done.undone:
        if where:
            raise UserError(
                f"people unmerge: syncd stored no merge of {addr}, so there is nothing it can "
                f"undo: {'; and '.join(where)}"
            )
        click.echo(f"{addr} is not merged with any other address: nothing changed.")
        return
    tz = ZoneInfo(config.me.timezone)
    click.echo(f"Split {addr} out of its person:")
    for r in done.undone:
        others = [a for a in r.addresses if a != addr]
        click.echo(f"  undid the merge with {_and(others)}, {_origin_text(r, tz)}")
    if done.kept_together is not None:
        click.echo(f"  {_and(done.kept_together.addresses)} stay one person.")
    if where:
        others = sorted({a for j in joins for a in j.others})
        click.echo(
            f"{addr} is still one person with {_and(others)}, which syncd cannot undo: "
            f"{'; and '.join(where)}."
        )


def _origin_text(r: MergeRecord, tz: ZoneInfo) -> str:
    """Who made a stored merge, and when (in the user's zone)."""
    how = {
        MERGE_CLI: "made with `syncd people merge`",
        MERGE_DIGEST_ACTION: 'made with a "Same person" link of a digest',
        MERGE_UNMERGE: "kept together by an earlier `syncd people unmerge`",
    }.get(r.origin, f"made by {r.origin}")
    if r.made_at is None:
        return f"{how} (by an older syncd, which kept no date)"
    return f"{how} on {r.made_at.astimezone(tz).date().isoformat()}"


def _join_text(address: str, j: Join, config: Config) -> str:
    """Where a join outside the store is, and what to edit."""
    others = _and(list(j.others))
    if j.source is None:
        named = f' "{j.name}"' if j.name else ""
        path = f" in {config.path}" if config.path else ""
        return f"the [[people]] entry{named}{path} lists it with {others}: remove {address} there"
    named = f' "{j.name}"' if j.name else ""
    return (
        f"the address-book contact{named} of source `{j.source}` lists it with {others}: "
        "edit the contact in that address book"
    )


# ---------------------------------------------------------------------------------- suggest
_KIND_TEXT = {
    "address book": "same name in your address book",
    "config": "same name as a [[people]] entry",
    "same name": "same name",
}
_WHERE_TEXT = {"mail": "in mail", "config": "in the config's [[people]]"}


def show_suggestions(state: AppState, fmt: str) -> None:
    """``syncd people --suggest``: likely duplicates, each with the command that merges it."""
    from syncd.relationships_reader import Relationships

    config = state.config
    model = Relationships(state.reader(), config)
    found = model.merge_suggestions()
    first = model.first_contacts(sorted({a for s in found for a in s.addresses}))
    found = [oldest_first(s, first) for s in found]
    if fmt == "json":
        rows = [
            {"addresses": list(s.addresses), "name": s.name, "reason": s.kind, "command": s.command}
            for s in found
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not found:
        click.echo("No likely duplicates: no name is shared by two people.")
        return
    tz = ZoneInfo(config.me.timezone)
    n = len(found)
    click.echo(
        f"{n} possible duplicate{'s' if n > 1 else ''} (syncd merges nobody on a name alone: "
        "run a command to accept one)"
    )
    for s in found:
        a, b = s.addresses
        kind = (
            f"same name at {a.rpartition('@')[2]}"
            if s.kind == "same domain"
            else _KIND_TEXT[s.kind]
        )
        click.echo(f"\n{s.name}: {a} and {b}, {kind}")
        for address in (a, b):
            click.echo(f"  {address}: {_uses_text(s, address, first.get(address), tz)}")
        click.echo(f"  {s.command}")


def suggestion_hint(n: int) -> str:
    """The one line under the `people` table when there are likely duplicates."""
    return f"{n} possible duplicate{'s' if n > 1 else ''}: see `syncd people --suggest`"


def _uses_text(s: Suggestion, address: str, since: datetime | None, tz: ZoneInfo) -> str:
    parts: list[str] = []
    for u in s.uses:
        if u.address != address:
            continue
        where = (
            f"in the contact of source `{u.source}`"
            if u.where == "contact"
            else _WHERE_TEXT[u.where]
        )
        text = f'"{u.name}" {where}'
        if text not in parts:
            parts.append(text)
    if since is not None:
        parts.append(f"first contact {since.astimezone(tz).date().isoformat()}")
    return ", ".join(parts)
