"""Outlook / Microsoft 365 (``type = "outlook"``): mail, calendar and contacts via Microsoft Graph.

Terminology:
- A **lane** is one delta chain walked page by page: a mail folder (``inbox``, ``sentitems``,
  ...) or the calendar window. Its state in the cursor is the link to GET next (a nextLink mid
  round, the deltaLink between rounds) and whether the round in progress is a full one.
- A **full round** starts from scratch (first sync, expired token, calendar window rolled
  forward); it is bracketed by ``full_sync_start`` / ``full_sync_end`` on the lane's scope so
  the engine sweeps what vanished meanwhile.

Lanes run in parallel threads (at most 4, and every request shares the client's cap of 4 in
flight and its budget of ``requests_per_10_minutes`` per mailbox); their pages come back to
``fetch`` through a small queue and each page becomes one Batch whose cursor is the state of
every lane as of the batches already yielded.
Messages keep their immutable id across folders, so a move between two synced folders shows as
a removal in one and an addition in the other, reported in either order and possibly in
different syncs (a round interrupted, or the move landing between two folders' rounds). A mail
removal is therefore a scoped deletion, "gone from this folder": the store deletes the message
only while it is still filed under that folder, so a late removal cannot delete a moved message.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from connectors.base import SourceConfig, SourceContext
from connectors.outlook_auth import DEFAULT_AUTHORITY, MsalAuth, auth_for
from connectors.outlook_calendar import MASTER_FIELDS, event_to_interaction, needs_master
from connectors.outlook_contacts import CONTACT_FIELDS, contact_from_graph
from connectors.outlook_graph import (
    DEFAULT_REQUEST_BUDGET,
    GRAPH_ENDPOINT,
    REQUEST_LIMIT,
    DeltaExpiredError,
    GraphClient,
    GraphError,
    RequestBudget,
)
from connectors.outlook_mail import message_to_interaction, parse_datetime, select_fields
from connectors.outlook_send import send_message
from syncd.errors import CursorExpiredError
from syncd.models import Batch, Contact, Interaction, Skip
from syncd.options import (
    Option,
    boolean,
    days,
    duration,
    integer,
    nonempty_string,
    path,
    since,
    string_list,
)

log = logging.getLogger(__name__)

__all__ = ["OPTIONS", "OutlookConnector", "authenticate", "open", "send_message"]

CURSOR_VERSION = 1
CONTACTS_EVERY = timedelta(days=1)  # the address book changes rarely: re-read it daily
_ROLL_EVERY = timedelta(days=7)  # move the calendar window forward weekly (api-facts §13.5)


def _folder_list(value: Any) -> tuple[str, ...]:
    folders = string_list(value)
    if not folders:
        raise ValueError("name at least one folder")
    return tuple(f.strip() for f in folders)


OPTIONS: dict[str, Option] = {
    "client_id": Option(
        nonempty_string,
        help="Application (client) ID of YOUR app registration in Microsoft Entra (public "
        "client flows enabled; see the README). Never another application's id.",
    ),
    "authority": Option(
        nonempty_string,
        DEFAULT_AUTHORITY,
        "Who may sign in: common (personal and work accounts), consumers (outlook.com), "
        "organizations, a tenant id or domain, or a full https:// authority URL (tests).",
    ),
    "graph_endpoint": Option(
        nonempty_string, GRAPH_ENDPOINT, "Base URL of Microsoft Graph (tests point it at a fake)."
    ),
    "since": Option(
        since, since("3y"), 'How far back the first sync reaches: a date or a span ("3y").'
    ),
    "horizon": Option(days, 90, 'How far ahead the calendar window reaches (days or "12w").'),
    "folders": Option(
        _folder_list,
        ("inbox", "sentitems"),
        "Mail folders to read: well-known names (inbox, sentitems, archive, ...) or folder ids.",
    ),
    "mail": Option(boolean, True, "Read mail metadata (Mail.ReadBasic)."),
    "calendar": Option(boolean, True, "Read the primary calendar (Calendars.Read)."),
    "contacts": Option(
        boolean, True, "Read contacts: names, addresses, birthdays (Contacts.Read)."
    ),
    "send_digest": Option(
        boolean,
        False,
        "Also ask for Mail.Send, so that [digest] via can name this source (run `syncd auth` "
        "again after turning it on).",
    ),
    "internet_headers": Option(
        boolean,
        True,
        "Ask Graph for internetMessageHeaders (bulk/automated flags); turned off by itself "
        "when the mailbox refuses them.",
    ),
    "page_size": Option(integer(10, 1000), 200, "Items per Graph page (odata.maxpagesize)."),
    "requests_per_10_minutes": Option(
        integer(1, REQUEST_LIMIT),
        DEFAULT_REQUEST_BUDGET,
        "Pace Graph requests to at most this many per 10 minutes (Outlook allows 10,000 per app "
        "registration and mailbox): a long backfill waits instead of being throttled.",
    ),
    "token_cache_file": Option(
        path,
        None,
        "Keep the msal token cache in this owner-only file instead of the keyring.",
    ),
    "calendar_roll": Option(
        duration, _ROLL_EVERY, "How often the calendar window is moved forward by a fresh round."
    ),
}


def authenticate(source: SourceConfig, ctx: SourceContext, echo: Callable[[str], None]) -> str:
    """``syncd auth NAME``: the device code flow (works on a headless machine)."""
    auth = auth_for(source, ctx)
    echo(f"Signing in to Microsoft for [sources.{source.name}] (scopes: {' '.join(auth.scopes)}).")
    result = auth.device_flow(echo)
    who = (result.get("id_token_claims") or {}).get("preferred_username") or auth.username()
    echo(f"Signed in as {who}; token cache saved to {auth.saved_to or 'the keyring'}.")
    return str(who or "")


def open(source: SourceConfig, ctx: SourceContext) -> OutlookConnector:
    return OutlookConnector(source, ctx)


@dataclass
class _Page:
    scope: str
    state: dict[str, Any]  # the lane's state once this page is stored
    upserts: list[Interaction] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    scoped_deletions: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    full_start: bool = False
    full_end: bool = False


_Start = Callable[[], tuple[str, dict[str, Any]]]  # a fresh round: (URL, extra lane state)


class _Stop(Exception):
    """The consumer went away (generator closed): lanes stop quietly."""


class OutlookConnector:
    def __init__(
        self, source: SourceConfig, ctx: SourceContext, *, client: GraphClient | None = None
    ):
        self.source = source
        self.ctx = ctx
        self.page_size = int(source.get("page_size", 200))
        self._auth: MsalAuth | None = None
        self.client = client or self._make_client()
        self._masters: dict[str, dict[str, Any] | None] = {}
        self._masters_lock = threading.Lock()
        self._stop = threading.Event()

    def _make_client(self) -> GraphClient:
        self._auth = auth_for(self.source, self.ctx)
        budget = RequestBudget(
            int(self.source.get("requests_per_10_minutes", DEFAULT_REQUEST_BUDGET)),
            monotonic=self.ctx.monotonic,
            sleep=self.ctx.sleep,
        )
        return GraphClient(
            self.source.get("graph_endpoint") or GRAPH_ENDPOINT,
            self._auth.token,
            sleep=self.ctx.sleep,
            budget=budget,
        )

    # ------------------------------------------------------------------ the protocol
    def fetch(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        # A private copy: the engine's cursor must not change under it while we work.
        cur = _copy(cursor or {})
        if cur.get("v") != CURSOR_VERSION:
            cur = {"v": CURSOR_VERSION}
        now = datetime.now(UTC)
        if "since" not in cur:
            # Fixed at the first sync: a span ("3y") must not make later rounds forget history.
            cur["since"] = self.source.get("since", since("3y")).start(now).isoformat()
        cur.setdefault("lanes", {})
        if "account" not in cur:
            cur["account"] = self._account()
            yield Batch(cursor=_copy(cur), account=cur["account"])
        account = cur["account"]
        if self.source.get("contacts", True):
            yield from self._contacts(cur, now)
        lanes = self._lanes(cur, now)
        if not lanes:
            return
        done = 0
        for page in self._run_lanes(lanes, cur):
            cur["lanes"][page.scope] = page.state
            done += len(page.upserts)
            yield Batch(
                upserts=page.upserts,
                deletions=page.deletions,
                scoped_deletions=page.scoped_deletions,
                skipped=page.skipped,
                cursor=_copy(cur),
                account=account,
                full_sync_start=[page.scope] if page.full_start else [],
                full_sync_end=[page.scope] if page.full_end else [],
                progress=(done, None),
            )

    # ------------------------------------------------------------------ account, contacts
    def _account(self) -> str | None:
        try:
            me = self.client.get("me", params={"$select": "mail,userPrincipalName"})
        except GraphError:
            me = None
        if isinstance(me, dict):
            for key in ("mail", "userPrincipalName"):
                value = me.get(key)
                if isinstance(value, str) and "@" in value:
                    return value.strip().lower()
        name = self._auth.username() if self._auth else None
        return name.lower() if name else None

    def _contacts(self, cur: dict[str, Any], now: datetime) -> Iterator[Batch]:
        last = cur.get("contacts_at")
        if last and now - datetime.fromisoformat(last) < CONTACTS_EVERY:
            return
        contacts: list[Contact] = []
        skipped: list[Skip] = []
        params = {"$select": CONTACT_FIELDS, "$top": "100"}
        for page in self.client.pages("me/contacts", params=params):
            for item in page.get("value") or []:
                c = contact_from_graph(item)
                if isinstance(c, Skip):
                    skipped.append(c)
                else:
                    contacts.append(c)
        ids = sorted(c.source_id for c in contacts)
        gone = sorted(set(cur.get("contact_ids", [])) - set(ids))
        cur["contact_ids"] = ids
        cur["contacts_at"] = now.isoformat()
        yield Batch(
            contacts=contacts,
            contact_deletions=gone,
            skipped=skipped,
            cursor=_copy(cur),
            account=cur.get("account"),
        )

    # ------------------------------------------------------------------ lanes
    def _lanes(self, cur: dict[str, Any], now: datetime) -> list[tuple[str, _Start]]:
        """(scope, fresh-round factory) for each lane."""
        out: list[tuple[str, _Start]] = []
        if self.source.get("mail", True):
            for folder in self.source.get("folders", ("inbox", "sentitems")):
                out.append((folder, functools.partial(self._mail_start, cur, folder)))
        if self.source.get("calendar", True):
            window = self._window(cur, now)
            state = cur["lanes"].get("calendar")
            roll = self.source.get("calendar_roll", _ROLL_EVERY)
            if state and state.get("window") and window[1] - _end(state) >= roll:
                # The window is frozen in the delta token: a fresh round moves it forward.
                cur["lanes"]["calendar"] = {}
            out.append(("calendar", lambda: self._calendar_start(window)))
        return out

    def _window(self, cur: dict[str, Any], now: datetime) -> tuple[datetime, datetime]:
        start = datetime.fromisoformat(cur["since"])
        horizon = timedelta(days=int(self.source.get("horizon", 90)))
        end = (now + horizon).replace(hour=0, minute=0, second=0, microsecond=0)
        return start, end

    def _mail_start(self, cur: dict[str, Any], folder: str) -> tuple[str, dict[str, Any]]:
        headers = self.source.get("internet_headers", True) and not cur.get("no_headers")
        query = urlencode({"$select": select_fields(bool(headers))}, quote_via=quote, safe="$,")
        return f"me/mailFolders/{quote(folder, safe='')}/messages/delta?{query}", {}

    def _calendar_start(self, window: tuple[datetime, datetime]) -> tuple[str, dict[str, Any]]:
        # The window is encoded in the delta tokens (event-delta.md): kept in the lane state
        # so that we know when to roll it.
        start, end = window
        query = urlencode(
            {"startDateTime": _z(start), "endDateTime": _z(end)}, quote_via=quote, safe=":"
        )
        return f"me/calendarView/delta?{query}", {"window": _iso(window)}

    def _prefer(self, scope: str) -> tuple[str, ...]:
        prefer: tuple[str, ...] = (f"odata.maxpagesize={self.page_size}",)
        if scope == "calendar":
            prefer += ('outlook.timezone="UTC"',)
        return prefer

    def _run_lanes(self, lanes: list[tuple[str, _Start]], cur: dict[str, Any]) -> Iterator[_Page]:
        """Walk every lane in parallel; yield their pages in arrival order."""
        states = {scope: dict(cur["lanes"].get(scope) or {}) for scope, _ in lanes}
        since_at = datetime.fromisoformat(cur["since"])
        out: queue.Queue[_Page | BaseException | str] = queue.Queue(maxsize=8)
        self._stop.clear()

        def emit(item: _Page | BaseException | str) -> None:
            while True:
                if self._stop.is_set():
                    raise _Stop
                try:
                    out.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def worker(scope: str, start: _Start) -> None:
            try:
                self._walk(scope, states[scope], start, since_at, cur, emit)
                emit(scope)
            except _Stop:
                pass
            except BaseException as e:  # handed to the consumer, raised there
                with contextlib.suppress(_Stop):
                    emit(e)

        with ThreadPoolExecutor(max_workers=min(4, len(lanes))) as pool:
            for scope, start in lanes:
                pool.submit(worker, scope, start)
            remaining = len(lanes)
            try:
                while remaining:
                    item = out.get()
                    if isinstance(item, str):
                        remaining -= 1
                    elif isinstance(item, BaseException):
                        raise item
                    else:
                        yield item
            finally:
                self._stop.set()

    def _walk(
        self,
        scope: str,
        state: dict[str, Any],
        start: _Start,
        since_at: datetime,
        cur: dict[str, Any],
        emit: Callable[[_Page], None],
    ) -> None:
        """One lane: resume its round or start one; restart once if the token expired."""
        restarted = False
        while True:
            fresh = not state.get("link")
            if fresh:
                url, extra = start()
                state = {"link": url, "full": True, **extra}
            try:
                self._walk_round(scope, state, fresh, since_at, cur, emit)
                return
            except DeltaExpiredError as e:
                if restarted:
                    raise CursorExpiredError(
                        f"{scope}: the delta token expired again right after a restart ({e}); "
                        "will retry next sync"
                    ) from e
                log.info("%s %s: %s; restarting the round", self.source.name, scope, e)
                restarted = True
                state = {}
            except GraphError as e:
                # Mail.ReadBasic may refuse internetMessageHeaders (unverified, api-facts §7):
                # a 400 to the select, or a refusal naming the property, means "go on without
                # them"; any other 403 is a missing permission and is reported as such.
                named = "internetmessageheaders" in str(e).lower()
                if (
                    fresh
                    and scope != "calendar"
                    and (e.status == 400 or (e.status == 403 and named))
                    and not cur.get("no_headers")
                    and "internetMessageHeaders" in state["link"]
                ):
                    log.warning(
                        "%s: Graph refused internetMessageHeaders; reading without them",
                        self.source.name,
                    )
                    cur["no_headers"] = True
                    state = {}
                    continue
                raise

    def _walk_round(
        self,
        scope: str,
        state: dict[str, Any],
        fresh: bool,
        since_at: datetime,
        cur: dict[str, Any],
        emit: Callable[[_Page], None],
    ) -> None:
        link: str = state["link"]
        first = fresh
        prefer = self._prefer(scope)
        while True:
            if self._stop.is_set():
                raise _Stop
            page = self.client.get(link, prefer=prefer, valid=_delta_page)
            next_link = page.get("@odata.nextLink")
            delta_link = page.get("@odata.deltaLink")
            new_state = {**state, "link": next_link or delta_link, "done": bool(delta_link)}
            if delta_link:
                new_state["full"] = False
            result = _Page(scope, new_state, full_start=first)
            result.full_end = bool(delta_link) and bool(state.get("full"))
            items = page.get("value") or []
            if scope == "calendar":
                self._load_masters(items)
            for item in items:
                self._convert(scope, item, since_at, result)
            emit(result)
            if delta_link:
                return
            state, link, first = new_state, next_link, False

    def _convert(self, scope: str, item: Any, since_at: datetime, page: _Page) -> None:
        prefix = "event:" if scope == "calendar" else "msg:"
        if not isinstance(item, dict):
            page.skipped.append(Skip(f"outlook {scope}", "an item that is not an object"))
            return
        if "@removed" in item:
            if isinstance(item.get("id"), str):
                if scope == "calendar":
                    page.deletions.append(prefix + item["id"])
                else:  # it left this folder: maybe for another synced one (see above)
                    page.scoped_deletions.append((scope, prefix + item["id"]))
            return
        if scope == "calendar":
            master_id = needs_master(item)
            result = event_to_interaction(item, self._masters.get(master_id) if master_id else None)
        else:
            result = message_to_interaction(item, scope, since=since_at)
        if isinstance(result, Skip):
            page.skipped.append(result)
        elif result is not None:
            page.upserts.append(result)

    def _load_masters(self, items: list[Any]) -> None:
        """Fetch the series masters this page needs, once each, in parallel (cap 4 in flight)."""
        wanted = {
            m for it in items if isinstance(it, dict) and (m := needs_master(it))
        } - self._masters.keys()
        if not wanted:
            return

        def one(master_id: str) -> tuple[str, dict[str, Any] | None]:
            try:
                got = self.client.get(
                    f"me/events/{quote(master_id, safe='')}",
                    params={"$select": ",".join(MASTER_FIELDS)},
                    prefer=('outlook.timezone="UTC"',),
                )
            except GraphError as e:
                if e.status == 404:
                    return master_id, None
                raise
            return master_id, got if isinstance(got, dict) else None

        with ThreadPoolExecutor(max_workers=4) as pool:
            for master_id, master in pool.map(one, sorted(wanted)):
                with self._masters_lock:
                    self._masters[master_id] = master


def _delta_page(page: Any) -> bool:
    """A delta page must list items and end with a nextLink or a deltaLink."""
    return (
        isinstance(page, dict)
        and isinstance(page.get("value", []), list)
        and bool(page.get("@odata.nextLink") or page.get("@odata.deltaLink"))
    )


def _copy(cur: dict[str, Any]) -> dict[str, Any]:
    out = dict(cur)
    out["lanes"] = {k: dict(v) for k, v in cur.get("lanes", {}).items()}
    return out


def _z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(window: tuple[datetime, datetime]) -> list[str]:
    return [_z(window[0]), _z(window[1])]


def _end(state: dict[str, Any]) -> datetime:
    return parse_datetime(state["window"][1])
