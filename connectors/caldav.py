"""CalDAV source: meetings from any CalDAV server (Fastmail, iCloud, Nextcloud, Radicale...).

``import caldav`` below is the PyPI library, not this module: the package uses absolute
imports and ``connectors/`` itself is never on sys.path.

What it reads: every calendar of the user (discovered from the principal's calendar home),
or those named in ``calendars``. Events are fetched raw (master + overrides) and expanded
here by :mod:`connectors.calendar_events`, so the attendee/PARTSTAT/STATUS rules are exactly
those of ``.ics`` files. The window is ``[since, now + horizon)``; its start is fixed at the
first sync so that history never slides out of it.

Scopes: each calendar object (one ``.ics`` resource, all occurrences of one UID) is its own
scope, named by its href. A changed object is re-read inside a ``full_sync_start/end`` bracket
of its scope, so occurrences that disappeared from it (a new EXDATE) are swept; a deleted
object is an empty bracket. No per-occurrence ids need to be kept in the cursor.

The cursor, per calendar URL::

    {"calendars": {"https://host/dav/ada/work/": {
        "window_start": "2020-01-01T00:00:00+00:00", "expanded_until": "...",
        "sync_token": "...", "ctag": "...", "etags": {"/dav/ada/work/x.ics": "\\"abc\\""}}}}

Incremental: sync-collection (RFC 6578) from ``sync_token`` where the server lists it in
``supported-report-set``; else the calendar's ctag (CalendarServer ``getctag``) decides whether
anything changed and an etag listing says what. An expired sync token (403
``valid-sync-token``) means one full pass of that calendar. Recurring events need a full pass
now and then anyway, when half of ``horizon`` has passed since the last expansion, to reach
the occurrences that moved into the window.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterator
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from connectors.base import SourceConfig, SourceContext
from connectors.calendar_events import interactions_from_calendar, parse_calendar
from syncd.errors import NeedsReauthError, SourceError, UserError
from syncd.models import Batch, Interaction, Skip
from syncd.options import (
    Option,
    duration,
    integer,
    nonempty_string,
    number,
    path,
    since,
    string,
    string_list,
)
from syncd.secrets import resolve_password

OPTIONS: dict[str, Option] = {
    "url": Option(nonempty_string, help="CalDAV URL (server root, principal or calendar home)."),
    "username": Option(nonempty_string, help="Login name."),
    "password_env": Option(string, None, "Environment variable that holds the password."),
    "password_command": Option(string_list, None, "Command that prints the password."),
    "since": Option(since, since("5y"), "How far back the first sync reaches."),
    "horizon": Option(duration, duration("90d"), "How far ahead upcoming meetings are read."),
    "calendars": Option(
        string_list, (), "Calendars to read, by display name or URL; default: all of them."
    ),
    "ca_file": Option(path, None, "PEM file of CA certificates to trust instead of the system's."),
    "chunk_size": Option(integer(1, 1000), 100, "Calendar objects per request and per batch."),
    "timeout": Option(number, 60.0, "Seconds before a silent server counts as unreachable."),
}

_NS = {"d": "DAV:", "c": "urn:ietf:params:xml:ns:caldav", "cs": "http://calendarserver.org/ns/"}
_PROPFIND = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">
  <d:prop><d:sync-token/><cs:getctag/><d:supported-report-set/></d:prop>
</d:propfind>"""
_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/>{data}</d:prop>
  <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
    <c:time-range start="{start}" end="{end}"/>
  </c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>"""
_MULTIGET = """<?xml version="1.0" encoding="utf-8"?>
<c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
  <d:prop><d:getetag/><c:calendar-data/></d:prop>
  {hrefs}
</c:calendar-multiget>"""
_SYNC = """<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:">
  <d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>
  <d:prop><d:getetag/></d:prop>
</d:sync-collection>"""


class _TokenExpiredError(Exception):
    pass


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
        if conn._client is not None:
            conn._client.close()
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
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise UserError(
                f"{self.where} url: plain http would send the password in clear text; "
                f"it is allowed only to a loopback address, not {parts.hostname!r}"
            )
        self.host = parts.netloc
        self.horizon: timedelta = source.get("horizon") or duration("90d")
        self.chunk_size: int = source.get("chunk_size", 100)
        self._client: Any = None
        self.now = lambda: datetime.now(UTC)  # tests move time forward

    # ------------------------------------------------------------------ protocol
    def fetch(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        state = deepcopy(cursor) if cursor else {}
        state.setdefault("calendars", {})
        try:
            self._client = self._connect()
            calendars = self._discover()
            for url in calendars:
                yield from self._sync_calendar(url, state)
            gone = [url for url in state["calendars"] if url not in calendars]
            for url in gone:  # the calendar was deleted or unselected: sweep its objects
                hrefs = list(state["calendars"].pop(url)["etags"])
                yield Batch(full_sync_start=hrefs, full_sync_end=hrefs, cursor=deepcopy(state))
        except Exception as e:
            raise self._translate(e) from e
        finally:
            if self._client is not None:
                self._client.close()
                self._client = None

    # ------------------------------------------------------------------ connection
    def _connect(self) -> Any:
        import caldav

        ca_file = self.source.get("ca_file")
        password = resolve_password(self.source.options, self.where, self.source.name)
        parts = urlsplit(self.url)
        return caldav.DAVClient(
            url=self.url,
            username=self.source["username"],
            password=password,
            ssl_verify_cert=str(ca_file) if ca_file else True,
            timeout=self.source.get("timeout", 60.0),
            require_tls=parts.scheme == "https",
            enable_rfc6764=False,  # the URL is given: no DNS discovery
        )

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
        if isinstance(e, OSError | error.DAVError):
            return SourceError(f"{self.host}: {type(e).__name__}: {text[:300]}")
        return e

    def _discover(self) -> list[str]:
        """URLs of the calendars to read (those that can hold events)."""
        wanted = set(self.source.get("calendars") or ())
        out = []
        for cal in self._client.principal().calendars():
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

    # ------------------------------------------------------------------ sync
    def _sync_calendar(self, url: str, state: dict[str, Any]) -> Iterator[Batch]:
        now = self.now()
        known = state["calendars"].get(url)
        props = self._props(url)
        if known is not None and datetime.fromisoformat(known["expanded_until"]) > (
            now + self.horizon / 2
        ):
            try:
                yield from self._incremental(url, known, props, state)
                return
            except _TokenExpiredError:
                self.ctx.log.warning(
                    "%s: sync token of %s expired: reading it again", self.source.name, url
                )
        yield from self._full(url, known, props, state, now)

    def _full(
        self,
        url: str,
        known: dict[str, Any] | None,
        props: dict[str, Any],
        state: dict[str, Any],
        now: datetime,
    ) -> Iterator[Batch]:
        """Every object in the window; what we knew and no longer see is swept."""
        window_start = (
            known["window_start"] if known else self._since(now).isoformat(timespec="seconds")
        )
        new = {
            "window_start": window_start,
            "expanded_until": (now + self.horizon).isoformat(timespec="seconds"),
            "sync_token": props["sync_token"] if props["sync_collection"] else None,
            "ctag": props["ctag"],
            "etags": {},
        }
        body = _QUERY.format(
            data="<c:calendar-data/>",
            start=_ical_utc(datetime.fromisoformat(window_start)),
            end=_ical_utc(datetime.fromisoformat(new["expanded_until"])),
        )
        objects = self._report(url, body)
        gone = sorted(set(known["etags"] if known else ()) - set(objects))
        items = sorted(objects.items())
        chunks = [items[i : i + self.chunk_size] for i in range(0, len(items), self.chunk_size)]
        for i, chunk in enumerate(chunks or [[]]):
            batch = self._objects_batch(chunk, new)
            if i == len(chunks or [[]]) - 1:
                batch.full_sync_start += gone
                batch.full_sync_end += gone
                state["calendars"][url] = new
                batch.cursor = deepcopy(state)
            yield batch  # earlier batches keep the stored cursor: a crash redoes this pass

    def _incremental(
        self, url: str, known: dict[str, Any], props: dict[str, Any], state: dict[str, Any]
    ) -> Iterator[Batch]:
        new = deepcopy(known)
        if known.get("sync_token") and props["sync_collection"]:
            changed, deleted, token = self._sync_collection(url, known["sync_token"])
            new["sync_token"] = token
        else:
            if known.get("ctag") and known["ctag"] == props["ctag"]:
                return  # nothing changed: one PROPFIND
            body = _QUERY.format(
                data="",
                start=_ical_utc(datetime.fromisoformat(known["window_start"])),
                end=_ical_utc(datetime.fromisoformat(known["expanded_until"])),
            )
            listed = {href: etag for href, (etag, _) in self._report(url, body).items()}
            changed = [h for h, etag in listed.items() if known["etags"].get(h) != etag]
            deleted = [h for h in known["etags"] if h not in listed]
        new["ctag"] = props["ctag"]
        if not changed and not deleted and new == known:
            return
        deleted = [h for h in deleted if h not in changed]
        for h in deleted:
            new["etags"].pop(h, None)
        hrefs = sorted(set(changed))
        chunks = [hrefs[i : i + self.chunk_size] for i in range(0, len(hrefs), self.chunk_size)]
        for i, chunk in enumerate(chunks or [[]]):
            objects = self._multiget(url, chunk) if chunk else {}
            for h in set(chunk) - set(objects):  # gone between listing and reading
                deleted.append(h)
                new["etags"].pop(h, None)
            batch = self._objects_batch(sorted(objects.items()), new)
            if i == len(chunks or [[]]) - 1:
                batch.full_sync_start += deleted
                batch.full_sync_end += deleted
                state["calendars"][url] = new
                batch.cursor = deepcopy(state)
            yield batch

    def _objects_batch(self, items: list[tuple[str, tuple[str, bytes | None]]], new: dict) -> Batch:
        """One batch re-reading ``items`` (href -> (etag, data)), each in its own bracket."""
        batch = Batch(progress_unit="events")
        window_start = datetime.fromisoformat(new["window_start"])
        window_end = datetime.fromisoformat(new["expanded_until"])
        for href, (etag, data) in items:
            new["etags"][href] = etag
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

    # ------------------------------------------------------------------ requests
    def _props(self, url: str) -> dict[str, Any]:
        resp = self._client.propfind(url, _PROPFIND, depth=0)
        tree = _tree(resp)
        token = tree.findtext(".//d:sync-token", namespaces=_NS)
        reports = tree.find(".//d:supported-report-set", namespaces=_NS)
        offers_sync = (
            reports is not None and reports.find(".//d:sync-collection", namespaces=_NS) is not None
        )
        return {
            "sync_token": token,
            "sync_collection": bool(token) and offers_sync,
            "ctag": tree.findtext(".//cs:getctag", namespaces=_NS),
        }

    def _report(self, url: str, body: str) -> dict[str, tuple[str, bytes | None]]:
        """href -> (etag, calendar data or None) from a calendar-query/multiget REPORT."""
        resp = self._client.report(url, body, depth=1)
        if resp.status >= 400:
            raise SourceError(f"{self.host}: REPORT on {url} failed with status {resp.status}")
        out: dict[str, tuple[str, bytes | None]] = {}
        for r in _tree(resp).findall("d:response", namespaces=_NS):
            href = _href(r.findtext("d:href", namespaces=_NS), url)
            if href is None or _status(r) == 404:
                continue
            data = r.findtext(".//c:calendar-data", namespaces=_NS)
            out[href] = (
                r.findtext(".//d:getetag", default="", namespaces=_NS),
                data.encode() if data is not None else None,
            )
        return out

    def _multiget(self, url: str, hrefs: list[str]) -> dict[str, tuple[str, bytes | None]]:
        from xml.sax.saxutils import escape

        refs = "".join(f"<d:href>{escape(quote(h))}</d:href>" for h in hrefs)
        body = _MULTIGET.format(hrefs=refs)
        return self._report(url, body)

    def _sync_collection(self, url: str, token: str) -> tuple[list[str], list[str], str]:
        """(changed hrefs, deleted hrefs, new token) since ``token``; follows truncation."""
        from xml.sax.saxutils import escape

        from caldav.lib import error

        changed: set[str] = set()
        deleted: set[str] = set()
        for _page in range(100):
            try:
                resp = self._client.report(url, _SYNC.format(token=escape(token)), depth=0)
            except error.AuthorizationError as e:
                if "valid-sync-token" in str(getattr(e, "preconditions", "")):
                    raise _TokenExpiredError() from e
                raise
            if resp.status in (403, 409) and b"valid-sync-token" in (resp.raw or b""):
                raise _TokenExpiredError()
            if resp.status >= 400:
                raise SourceError(f"{self.host}: sync-collection on {url}: status {resp.status}")
            tree = _tree(resp)
            truncated = False
            for r in tree.findall("d:response", namespaces=_NS):
                href = _href(r.findtext("d:href", namespaces=_NS), url)
                status = _status(r)
                if href is None:  # the collection itself: 507 means "more to come"
                    truncated = truncated or status == 507
                elif status == 404:
                    deleted.add(href)
                    changed.discard(href)
                else:
                    changed.add(href)
                    deleted.discard(href)
            token = tree.findtext("d:sync-token", default=token, namespaces=_NS)
            if not truncated:
                break
        return sorted(changed), sorted(deleted), token

    def _since(self, now: datetime) -> datetime:
        value = self.source.get("since")
        return value.start(now) if value is not None else now - timedelta(days=5 * 365)


# ---------------------------------------------------------------------- helpers
def _tree(resp: Any) -> Any:
    from lxml import etree

    raw = resp.raw if isinstance(resp.raw, bytes) else str(resp.raw).encode()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.fromstring(raw, parser=parser)


def _href(text: str | None, base: str) -> str | None:
    """The object's path (unquoted), or None for the collection itself."""
    if not text:
        return None
    path = unquote(urlsplit(urljoin(base, text.strip())).path)
    if path.rstrip("/") == unquote(urlsplit(base).path).rstrip("/"):
        return None
    return path


def _status(response: Any) -> int | None:
    text = response.findtext("d:status", namespaces=_NS) or response.findtext(
        "d:propstat/d:status", namespaces=_NS
    )
    try:
        return int(text.split()[1]) if text else None
    except (IndexError, ValueError):
        return None


def _ical_utc(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
