"""CalDAV source: meetings (and CardDAV contacts) from any CalDAV server (Fastmail, iCloud,
Nextcloud, Radicale...).

``caldav`` in the imports below is the PyPI library, not this module: the package uses absolute
imports and ``connectors/`` itself is never on sys.path.

What it reads: every calendar of the user (discovered from the principal's calendar home),
or those named in ``calendars``; and, unless ``contacts = false``, every address book in the
principal's addressbook home (:mod:`connectors.carddav`). Events are fetched raw (master +
overrides) and expanded here by :mod:`connectors.calendar_events`, so the attendee/PARTSTAT/
STATUS rules are exactly those of ``.ics`` files. The window is ``[since, now + horizon)``;
its start is fixed at the first sync so that history never slides out of it.

Scopes: each calendar object (one ``.ics`` resource, all occurrences of one UID) is its own
scope, named by its href. A changed object is re-read inside a ``full_sync_start/end`` bracket
of its scope, so occurrences that disappeared from it (a new EXDATE) are swept; a deleted
object is an empty bracket. A vCard is one contact keyed by its href.

The cursor, per collection URL::

    {"calendars": {"https://host/dav/ada/work/": {
        "window_start": "2020-01-01T00:00:00+00:00", "expanded_until": "...",
        "sync_token": "...", "ctag": "...", "etags": {"/dav/ada/work/x.ics": "\\"abc\\""},
        "pending": ["/dav/ada/work/y.ics"]}},
     "addressbooks": {"https://host/dav/ada/contacts/": {
        "sync_token": "...", "ctag": "...", "etags": {...}}}}

A pass over a collection first lists what to read (hrefs and etags only), then reads the
objects ``chunk_size`` at a time (multiget), one batch each. ``pending`` is what the pass has
still to read: every batch carries the cursor, so a pass cut short (a dropped connection, a
killed process) resumes where it stopped instead of starting over. The sync token or ctag in
the cursor is the one from before the listing, so changes made during a pass are read by
the next one. Within one ``fetch`` a dropped connection is retried ``reconnects`` times.

Incremental: sync-collection (RFC 6578) from ``sync_token`` where the server lists it in
``supported-report-set``; else the collection's ctag (CalendarServer ``getctag``) decides
whether anything changed and an etag listing says what. An expired sync token (403
``valid-sync-token``) means one full pass of that collection. Recurring events need a full
pass now and then anyway, when half of ``horizon`` has passed since the last expansion, to
reach the occurrences that moved into the window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from connectors import webdav
from connectors.base import SourceConfig, SourceContext
from connectors.calendar_events import interactions_from_calendar, parse_calendar
from connectors.carddav import contacts_batch
from connectors.retry import RetryPolicy
from syncd.errors import NeedsReauthError, SourceError, UserError
from syncd.models import Batch, Interaction, Skip
from syncd.options import (
    Option,
    boolean,
    duration,
    integer,
    nonempty_string,
    number,
    path,
    since,
    string_list,
)
from syncd.secrets import PASSWORD_OPTIONS, resolve_password

OPTIONS: dict[str, Option] = {
    "url": Option(nonempty_string, help="CalDAV URL (server root, principal or calendar home)."),
    "username": Option(nonempty_string, help="Login name."),
    **PASSWORD_OPTIONS,
    "since": Option(since, since("5y"), "How far back the first sync reaches."),
    "horizon": Option(duration, duration("90d"), "How far ahead upcoming meetings are read."),
    "calendars": Option(
        string_list, (), "Calendars to read, by display name or URL; default: all of them."
    ),
    "contacts": Option(
        boolean,
        True,
        "Also read the CardDAV address books on the same server (names, addresses, birthdays).",
    ),
    "ca_file": Option(path, None, "PEM file of CA certificates to trust instead of the system's."),
    "chunk_size": Option(integer(1, 1000), 100, "Objects per request and per stored batch."),
    "timeout": Option(number, 60.0, "Seconds before a silent server counts as unreachable."),
    "reconnects": Option(integer(0, 20), 3, "Reconnect attempts after a dropped connection."),
}

_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/></d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
    <c:time-range start="{start}" end="{end}"/>
  </c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>"""
_CALENDARS, _BOOKS = "calendars", "addressbooks"


class _DroppedError(Exception):
    """The connection went away mid-request: worth a reconnect."""


def open(source: SourceConfig, ctx: SourceContext) -> CalDavConnector:
    return CalDavConnector(source, ctx)


def authenticate(source: SourceConfig, ctx: SourceContext, echo: Callable[[str], None]) -> None:
    """``syncd auth NAME``: log in once with the configured password to check it (the password
    stays where the config points), so that a source marked as needing re-auth can be cleared."""
    conn = CalDavConnector(source, ctx)
    try:
        conn._client = conn._connect()
        conn._client.principal()
    except Exception as e:
        raise conn._translate(e) from e
    finally:
        conn._close()
    echo(f"{conn.host}: logged in as {source['username']}")


class CalDavConnector:
    def __init__(self, source: SourceConfig, ctx: SourceContext):
        self.source = source
        self.ctx = ctx
        self.where = f"[sources.{source.name}]"
        self.url: str = source["url"]
        parts = urlsplit(self.url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise UserError(f"{self.where} url: expected an https:// URL, got {self.url!r}")
        if parts.scheme == "http" and not webdav.is_loopback(parts.hostname):
            raise UserError(
                f"{self.where} url: plain http would send the password in clear text; "
                f"it is allowed only to a loopback address, not {parts.hostname!r}"
            )
        self.host = parts.netloc
        self.horizon: timedelta = source.get("horizon") or duration("90d")
        self.chunk_size: int = source.get("chunk_size", 100)
        self.retry = RetryPolicy(attempts=source.get("reconnects", 3), base=1.0, cap=30.0)
        self._client: Any = None
        self._done = 0
        self._total = 0
        self.now = lambda: datetime.now(UTC)  # tests move time forward

    # ------------------------------------------------------------------ protocol
    def fetch(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        state = deepcopy(cursor) if cursor else {}
        state.setdefault(_CALENDARS, {})
        state.setdefault(_BOOKS, {})
        failures = 0
        while True:
            try:
                self._client = self._connect()
                # ``state`` only ever holds what the batches yielded so far carry, so a
                # reconnect picks up after the last of them.
                for batch in self._sync(state):
                    failures = 0
                    yield batch
                return
            except Exception as e:
                err = self._translate(e)
                if not isinstance(err, _DroppedError):
                    raise err from e
                failures += 1
                if failures > self.retry.attempts:
                    raise SourceError(
                        f"{self.host}: connection lost ({err}); gave up after "
                        f"{self.retry.attempts} reconnects (the next sync resumes from here)"
                    ) from e
                self.ctx.log.warning(
                    "%s: connection to %s lost (%s); reconnecting", self.source.name, self.host, err
                )
                self.ctx.sleep(self.retry.delay(failures - 1))
            finally:
                self._close()

    def _sync(self, state: dict[str, Any]) -> Iterator[Batch]:
        self._done = self._total = 0
        principal = self._client.principal()
        calendars = self._calendars(principal)
        for url in calendars:
            yield from self._sync_collection(_CALENDARS, url, state)
        books = self._addressbooks(principal) if self.source.get("contacts", True) else []
        for url in books:
            yield from self._sync_collection(_BOOKS, url, state)
        # Collections deleted on the server or no longer selected: forget what they held.
        for key, current in ((_CALENDARS, calendars), (_BOOKS, books)):
            for url in [u for u in state[key] if u not in current]:
                old = state[key][url]  # a pass cut short holds objects in "pending" too
                hrefs = sorted(set(old["etags"]) | set(old.get("pending", ())))
                del state[key][url]
                batch = self._gone_batch(key, hrefs)
                batch.cursor = deepcopy(state)
                yield batch

    # ------------------------------------------------------------------ connection
    def _connect(self) -> Any:
        from caldav.davclient import DAVClient  # not caldav.DAVClient: typed, unlike the lazy alias

        ca_file = self.source.get("ca_file")
        password = resolve_password(self.source.options, self.where, self.source.name)
        parts = urlsplit(self.url)
        return DAVClient(
            url=self.url,
            username=self.source["username"],
            password=password,
            ssl_verify_cert=str(ca_file) if ca_file else True,
            timeout=self.source.get("timeout", 60.0),
            require_tls=parts.scheme == "https",
            enable_rfc6764=False,  # the URL is given: no DNS discovery
        )

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def _translate(self, e: Exception) -> Exception:
        from caldav.lib import error

        if isinstance(e, UserError | SourceError):
            return e
        text = str(e)
        if isinstance(e, error.AuthorizationError) and getattr(e, "status", 401) == 401:
            return NeedsReauthError(
                f"{self.host}: login as {self.source['username']} refused (401); check the password"
            )
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            detail = text[text.find("certificate verify failed") :].split("(_ssl")[0].strip()
            return SourceError(f"{self.host}: certificate verify failed: {detail.split(': ')[-1]}")
        if isinstance(e, OSError):  # niquests' errors are OSErrors too: resets, timeouts
            return _DroppedError(f"{type(e).__name__}: {text[:200]}")
        if isinstance(e, error.DAVError):
            return SourceError(f"{self.host}: {type(e).__name__}: {text[:300]}")
        return e

    # ------------------------------------------------------------------ discovery
    def _calendars(self, principal: Any) -> list[str]:
        """URLs of the calendars to read (those that can hold events)."""
        wanted = set(self.source.get("calendars") or ())
        out = []
        for cal in principal.calendars():
            url = str(cal.url)
            try:
                components = cal.get_supported_components()
            except Exception:  # not every server answers: assume events
                components = ["VEVENT"]
            if "VEVENT" not in components:
                continue
            name = cal.get_display_name() if wanted else None
            if wanted and not ({url, urlsplit(url).path, name} & wanted):
                continue
            out.append(url)
        return out

    def _addressbooks(self, principal: Any) -> list[str]:
        from caldav.lib import error

        try:
            return [url for url, _name in webdav.addressbooks(self._client, str(principal.url))]
        except error.DAVError as e:  # no CardDAV here: calendars alone are fine
            self.ctx.log.info("%s: no address books (%s)", self.source.name, e)
            return []

    # ------------------------------------------------------------------ one collection
    def _sync_collection(self, key: str, url: str, state: dict[str, Any]) -> Iterator[Batch]:
        known = state[key].get(url)
        if known and known.get("pending"):  # a pass was cut short: finish it first
            yield from self._read(key, url, state, deepcopy(known), [])
            known = state[key][url]
        now = self.now()
        props = self._props(url)
        if known is not None and not self._needs_full_pass(key, known, now):
            try:
                yield from self._incremental(key, url, known, props, state)
                return
            except webdav.TokenExpiredError:
                self.ctx.log.warning(
                    "%s: sync token of %s expired: reading it again", self.source.name, url
                )
        yield from self._full(key, url, known, props, state, now)

    def _props(self, url: str) -> dict[str, Any]:
        return webdav.collection_props(self._client, url)

    def _needs_full_pass(self, key: str, known: dict[str, Any], now: datetime) -> bool:
        if key == _BOOKS:
            return False
        return datetime.fromisoformat(known["expanded_until"]) <= now + self.horizon / 2

    def _full(
        self,
        key: str,
        url: str,
        known: dict[str, Any] | None,
        props: dict[str, Any],
        state: dict[str, Any],
        now: datetime,
    ) -> Iterator[Batch]:
        """Every object (in the window); what we knew and no longer see is forgotten."""
        new: dict[str, Any] = {
            "sync_token": props["sync_token"] if props["sync_collection"] else None,
            "ctag": props["ctag"],
            "etags": {},
        }
        if key == _CALENDARS:
            new["window_start"] = (
                known["window_start"] if known else self._since(now).isoformat(timespec="seconds")
            )
            new["expanded_until"] = (now + self.horizon).isoformat(timespec="seconds")
        listed = self._list(key, url, new)
        gone = sorted(set(known["etags"] if known else ()) - set(listed))
        new["pending"] = sorted(listed)
        yield from self._read(key, url, state, new, gone)

    def _incremental(
        self,
        key: str,
        url: str,
        known: dict[str, Any],
        props: dict[str, Any],
        state: dict[str, Any],
    ) -> Iterator[Batch]:
        new = deepcopy(known)
        if known.get("sync_token") and props["sync_collection"]:
            changed, deleted, token = webdav.sync_collection(
                self._client, url, known["sync_token"], self.host
            )
            new["sync_token"] = token
        else:
            if known.get("ctag") and known["ctag"] == props["ctag"]:
                return  # nothing changed: one PROPFIND
            listed = self._list(key, url, known)
            changed = [h for h, etag in listed.items() if known["etags"].get(h) != etag]
            deleted = [h for h in known["etags"] if h not in listed]
        new["ctag"] = props["ctag"]
        if not changed and not deleted and new == known:
            return
        deleted = [h for h in deleted if h not in changed]
        for h in deleted:
            new["etags"].pop(h, None)
        new["pending"] = sorted(set(changed))
        yield from self._read(key, url, state, new, deleted)

    def _list(self, key: str, url: str, window: dict[str, Any]) -> dict[str, str]:
        """href -> etag of the objects a full pass reads: calendars' events in the window."""
        if key == _BOOKS:
            return webdav.etags(self._client, url)
        body = _QUERY.format(
            start=_ical_utc(datetime.fromisoformat(window["window_start"])),
            end=_ical_utc(datetime.fromisoformat(window["expanded_until"])),
        )
        return {
            h: etag for h, (etag, _) in webdav.report(self._client, url, body, self.host).items()
        }

    def _read(
        self, key: str, url: str, state: dict[str, Any], new: dict[str, Any], gone: list[str]
    ) -> Iterator[Batch]:
        """Read ``new['pending']`` a chunk at a time; the first batch also forgets ``gone``."""
        kind = "calendar" if key == _CALENDARS else "addressbook"
        self._total += len(new["pending"])
        while True:
            chunk = new["pending"][: self.chunk_size]
            objects = webdav.multiget(self._client, url, chunk, kind, self.host) if chunk else {}
            missing = [h for h in chunk if h not in objects]  # gone since the listing
            items = sorted(objects.items())
            for h, (etag, _) in items:
                new["etags"][h] = etag
            for h in missing:
                new["etags"].pop(h, None)
            batch = self._events_batch(items, new) if key == _CALENDARS else contacts_batch(items)
            gone_batch = self._gone_batch(key, gone + missing)
            batch.full_sync_start += gone_batch.full_sync_start
            batch.full_sync_end += gone_batch.full_sync_end
            batch.contact_deletions += gone_batch.contact_deletions
            gone = []
            new["pending"] = new["pending"][len(chunk) :]
            if not new["pending"]:
                del new["pending"]
            state[key][url] = deepcopy(new)
            self._done += len(chunk)
            batch.cursor = deepcopy(state)
            batch.progress = (self._done, self._total)
            yield batch
            if "pending" not in new:
                return

    @staticmethod
    def _gone_batch(key: str, hrefs: list[str]) -> Batch:
        if key == _CALENDARS:  # an empty bracket sweeps every occurrence of the object
            return Batch(full_sync_start=list(hrefs), full_sync_end=list(hrefs))
        return Batch(contact_deletions=list(hrefs))

    def _events_batch(self, items: list[tuple[str, tuple[str, bytes | None]]], new: dict) -> Batch:
        """One batch re-reading ``items`` (href -> (etag, data)), each in its own bracket."""
        batch = Batch(progress_unit="events")
        window_start = datetime.fromisoformat(new["window_start"])
        window_end = datetime.fromisoformat(new["expanded_until"])
        for href, (_etag, data) in items:
            batch.full_sync_start.append(href)
            batch.full_sync_end.append(href)
            if data is None:
                batch.skipped.append(Skip(href, "the server sent no calendar data"))
                continue
            try:
                cal = parse_calendar(data, href)
            except ValueError as e:
                batch.skipped.append(Skip(href, f"not iCalendar: {e}"))
                continue
            for item in interactions_from_calendar(
                cal,
                scope=href,
                window_start=window_start,
                window_end=window_end,
                timezone=self.ctx.timezone,
                id_prefix=f"{href}#",
            ):
                if isinstance(item, Interaction):
                    batch.upserts.append(item)
                else:
                    batch.skipped.append(item)
        return batch

    def _since(self, now: datetime) -> datetime:
        value = self.source.get("since")
        return value.start(now) if value is not None else now - timedelta(days=5 * 365)


def _ical_utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
