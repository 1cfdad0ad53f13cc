"""A stateful fake of Gmail, Google Calendar, People and Google's OAuth endpoints.

It runs on 127.0.0.1 in a thread and is driven through the real google-api-python-client
(``client_options={"api_endpoint": server.url}``; Calendar at ``server.url + "calendar/v3/"``)
and google-auth (the token JSON's ``token_uri`` points at ``server.url + "token"``).

What it does that matters for the tests: pages every list; expires historyIds (404),
Calendar sync tokens (410) and People sync tokens (400 EXPIRED_SYNC_TOKEN); answers batches
(multipart/mixed) part by part; enforces the gmail.metadata rules (no ``q``, no
format=full/raw); counts Gmail quota units per user over a rolling window and answers 429
past the limit; injects faults (429/500/503 with or without Retry-After, truncated JSON) on
chosen requests, batch parts included; revokes refresh tokens (400 invalid_grant); and
records every request so that tests can assert what was (never) asked.
"""

from __future__ import annotations

import collections
import email.parser
import itertools
import json
import re
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fakes.google_state import (
    ALL_SCOPES,
    CALENDAR_READONLY,
    CONTACTS_READONLY,
    GMAIL_METADATA,
    GMAIL_SEND,
    OTHER_CONTACTS_READONLY,
    Mailbox,
    User,
)

GMAIL_COSTS = {
    "getProfile": 1,
    "messages.list": 5,
    "messages.get": 20,
    "history.list": 2,
    "messages.send": 100,
}

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    in_batch: bool
    status: int = 0


@dataclass
class Fault:
    """Answer requests whose path contains ``path`` (and matches ``when``) with ``status``."""

    path: str
    status: int = 429
    times: int = 1
    retry_after: str | None = None
    truncate: bool = False  # answer normally, but cut the JSON body in half
    in_batch: bool | None = None  # None: both outer requests and batch parts
    when: Callable[[Recorded], bool] | None = None
    reason: str = "rateLimitExceeded"
    hits: int = 0

    def matches(self, rec: Recorded) -> bool:
        if self.hits >= self.times or self.path not in rec.path:
            return False
        if self.in_batch is not None and self.in_batch != rec.in_batch:
            return False
        return self.when is None or self.when(rec)


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Reply:
    h = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
    return status, h, json.dumps(body).encode()


def google_error(status: int, message: str, reason: str | None = None, **extra: Any) -> Reply:
    err: dict[str, Any] = {"code": status, "message": message, **extra}
    if reason:
        err["errors"] = [{"domain": "global", "reason": reason, "message": message}]
    return _json(status, {"error": err})


def _page(items: list[Any], query: dict[str, list[str]], default: int, cap: int) -> tuple:
    size = min(int(query.get("maxResults", query.get("pageSize", [default]))[0]), cap)
    size = min(size, int(query.get("_max_page", [size])[0]))
    start = int(query.get("pageToken", ["0"])[0] or 0)
    chunk = items[start : start + size]
    nxt = str(start + size) if start + size < len(items) else None
    return chunk, nxt


class FakeGoogle:
    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        latency: float = 0.0,
        quota_units_per_minute: int | None = None,
        quota_window: float = 60.0,
        quota_retry_after: str | None = None,
        record: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        max_page: int | None = None,
    ):
        self.max_page = max_page  # smaller pages than the client asks for, as Google may send
        self.clock = clock
        self.latency = latency
        self.sleep = sleep
        self.quota_units_per_minute = quota_units_per_minute
        self.quota_window = quota_window
        self.quota_retry_after = quota_retry_after
        self.record = record
        self.users: dict[str, User] = {}
        self.refresh_tokens: dict[str, tuple[str, tuple[str, ...]]] = {}  # rt -> (email, scopes)
        self.revoked: set[str] = set()
        self.access_tokens: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.auth_codes: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.auth_user: str | None = None  # who signs in at /auth
        self.deny_scopes: set[str] = set()  # what that user refuses on the consent screen
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.token_requests = 0
        self.http_requests = 0
        self.quota_spent: dict[str, collections.deque[tuple[float, int]]] = {}
        self.units_accepted: dict[str, int] = collections.Counter()
        self.throttled = 0
        self.lock = threading.RLock()
        self._n = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._local = threading.local()
        self.url = ""

    # -- set-up ------------------------------------------------------------------------------

    def add_user(self, email: str) -> User:
        user = self.users[email] = User(email, Mailbox(email))
        return user

    def grant(self, email: str, scopes: tuple[str, ...] = ALL_SCOPES) -> str:
        """A refresh token for ``email`` holding ``scopes``."""
        rt = f"RT-{next(self._n)}"
        self.refresh_tokens[rt] = (email, tuple(scopes))
        return rt

    def token_json(self, email: str, scopes: tuple[str, ...] = ALL_SCOPES) -> dict[str, Any]:
        """Authorized-user JSON, as ``Credentials.to_json()`` writes it, pointing here."""
        return {
            "refresh_token": self.grant(email, scopes),
            "token_uri": self.url + "token",
            "client_id": "fake-client.apps.googleusercontent.com",
            "client_secret": "fake-secret",
            "scopes": list(scopes),
        }

    def revoke(self, refresh_token: str | None = None) -> None:
        """Revoke one refresh token (or all) and every access token."""
        self.revoked |= {refresh_token} if refresh_token else set(self.refresh_tokens)
        self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        self.access_tokens.clear()

    def gmail_requests(self, fragment: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith("/gmail/") and fragment in r.path]

    # -- server ------------------------------------------------------------------------------

    def __enter__(self) -> FakeGoogle:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, out = fake.handle(
                    self.command, self.path, dict(self.headers.items()), body
                )
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- dispatch ----------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: dict[str, str], body: bytes) -> Reply:
        # Quota is counted when a request arrives; a batch's parts all arrive with it.
        self._local.arrived = self.clock()
        if self.latency:
            self.sleep(self.latency)
        with self.lock:
            self.http_requests += 1
        parsed = urllib.parse.urlsplit(raw_path)
        path, query = parsed.path, urllib.parse.parse_qs(parsed.query)
        if self.max_page:
            query["_max_page"] = [str(self.max_page)]
        if path == "/token":
            return self.token(body)
        if path == "/auth":
            return self.authorize(query)
        if path.startswith("/batch/"):
            if self._user(headers) is None:
                return google_error(401, "Request had invalid authentication credentials.")
            return self.batch(headers, body)
        return self.api(method, path, query, headers, body, in_batch=False)

    def _user(self, headers: dict[str, str]) -> tuple[str, tuple[str, ...]] | None:
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        with self.lock:
            return self.access_tokens.get(token)

    def api(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        *,
        in_batch: bool,
    ) -> Reply:
        rec = Recorded(method, path, query, in_batch)
        reply = self._api(rec, headers, body)
        rec.status = reply[0]
        if self.record:
            with self.lock:
                self.requests.append(rec)
        return reply

    def _api(self, rec: Recorded, headers: dict[str, str], body: bytes) -> Reply:
        grant = self._user(headers)
        if grant is None:
            return google_error(401, "Request had invalid authentication credentials.")
        email, scopes = grant
        with self.lock:
            fault = next((f for f in self.faults if f.matches(rec)), None)
            if fault is not None:
                fault.hits += 1
        if fault is not None and not fault.truncate:
            reply = google_error(fault.status, f"injected {fault.status}", fault.reason)
            if fault.retry_after is not None:
                reply[1]["Retry-After"] = fault.retry_after
            if fault.status == 429:
                self.throttled += 1
            return reply
        user = self.users[email]
        with self.lock:
            reply = self.route(user, scopes, rec, body)
        if fault is not None and fault.truncate and reply[0] == 200:
            return reply[0], reply[1], reply[2][: len(reply[2]) // 2]
        return reply

    def _charge(self, email: str, method: str) -> Reply | None:
        """Spend quota units, or answer 429 past the limit (rolling window per user)."""
        cost = GMAIL_COSTS.get(method, 1)
        window = self.quota_spent.setdefault(email, collections.deque())
        now = getattr(self._local, "arrived", None) or self.clock()
        while window and window[0][0] <= now - self.quota_window:
            window.popleft()
        if self.quota_units_per_minute is not None:
            used = sum(u for _, u in window)
            if used + cost > self.quota_units_per_minute:
                self.throttled += 1
                reply = google_error(429, "User-rate limit exceeded", "rateLimitExceeded")
                if self.quota_retry_after:
                    reply[1]["Retry-After"] = self.quota_retry_after
                return reply
        window.append((now, cost))
        self.units_accepted[email] += cost
        return None

    def route(self, user: User, scopes: tuple[str, ...], rec: Recorded, body: bytes) -> Reply:
        p, q = rec.path, rec.query
        if m := re.fullmatch(r"/gmail/v1/users/me/(.*)", p):
            return self.gmail(user, scopes, rec.method, m.group(1), q, body)
        if m := re.fullmatch(r"/calendar/v3/(.*)", p):
            if CALENDAR_READONLY not in scopes:
                return google_error(403, "Insufficient Permission", "insufficientPermissions")
            return self.calendar(user, m.group(1), q)
        if p == "/v1/people/me/connections":
            if CONTACTS_READONLY not in scopes:
                return google_error(403, "Insufficient Permission", "insufficientPermissions")
            if "personFields" not in q:
                return google_error(400, "personFields mask is required", "badRequest")
            return self.people(user.contacts, "connections", q)
        if p == "/v1/otherContacts":
            if OTHER_CONTACTS_READONLY not in scopes:
                return google_error(403, "Insufficient Permission", "insufficientPermissions")
            if "readMask" not in q:
                return google_error(400, "readMask is required", "badRequest")
            return self.people(user.other_contacts, "otherContacts", q)
        return google_error(404, f"no such path {p}", "notFound")

    # -- Gmail -------------------------------------------------------------------------------

    def gmail(
        self,
        user: User,
        scopes: tuple[str, ...],
        method: str,
        rest: str,
        q: dict[str, list[str]],
        body: bytes,
    ) -> Reply:
        box = user.mailbox
        if rest == "messages/send" and method == "POST":
            if GMAIL_SEND not in scopes:
                return google_error(403, "Insufficient Permission", "insufficientPermissions")
            if err := self._charge(user.email, "messages.send"):
                return err
            raw = json.loads(body)["raw"]
            box.sent.append(raw)
            mid = f"sent{len(box.sent)}"
            return _json(200, {"id": mid, "threadId": mid, "labelIds": ["SENT"]})
        if GMAIL_METADATA not in scopes:
            return google_error(403, "Insufficient Permission", "insufficientPermissions")
        if rest == "profile":
            if err := self._charge(user.email, "getProfile"):
                return err
            return _json(
                200,
                {
                    "emailAddress": box.email,
                    "messagesTotal": len(box.messages),
                    "threadsTotal": len(box.messages),
                    "historyId": str(box.history_id),
                },
            )
        if rest == "messages":
            if "q" in q:
                return google_error(
                    403, "Metadata scope does not support 'q' parameter", "forbidden"
                )
            if err := self._charge(user.email, "messages.list"):
                return err
            want = set(q.get("labelIds", []))
            spam_trash = q.get("includeSpamTrash", ["false"])[0] == "true"
            ids = [
                m
                for m in box.order()
                if want <= set(box.messages[m].labels)
                and (spam_trash or not {"SPAM", "TRASH"} & set(box.messages[m].labels))
            ]
            chunk, nxt = _page(ids, q, 100, 500)
            out: dict[str, Any] = {"resultSizeEstimate": len(ids)}
            if chunk:
                out["messages"] = [{"id": m, "threadId": box.messages[m].thread_id} for m in chunk]
            if nxt:
                out["nextPageToken"] = nxt
            return _json(200, out)
        if m := re.fullmatch(r"messages/([^/]+)", rest):
            fmt = q.get("format", ["full"])[0].lower()
            if fmt not in ("metadata", "minimal"):
                return google_error(
                    403, f"Metadata scope doesn't allow format {fmt.upper()}", "forbidden"
                )
            if err := self._charge(user.email, "messages.get"):
                return err
            msg = box.messages.get(m.group(1))
            if msg is None:
                return google_error(404, "Requested entity was not found.", "notFound")
            return _json(200, self._message(msg, fmt, q))
        if rest == "history":
            if err := self._charge(user.email, "history.list"):
                return err
            start = int(q["startHistoryId"][0])
            if start < box.min_history_id:
                return google_error(404, "Requested entity was not found.", "notFound")
            types = set(q.get("historyTypes", []))
            keys = {
                "messageAdded": "messagesAdded",
                "messageDeleted": "messagesDeleted",
                "labelAdded": "labelsAdded",
                "labelRemoved": "labelsRemoved",
            }
            wanted = {keys[t] for t in types} if types else set(keys.values())
            records = []
            for rec in box.history:
                if int(rec["id"]) <= start:
                    continue
                kept = {k: v for k, v in rec.items() if k in ("id", "messages") or k in wanted}
                if len(kept) > 2:
                    records.append(kept)
            chunk, nxt = _page(records, q, 100, 500)
            out = {"historyId": str(box.history_id)}
            if chunk:
                out["history"] = chunk
            if nxt:
                out["nextPageToken"] = nxt
            return _json(200, out)
        return google_error(404, f"no such Gmail method {rest}", "notFound")

    @staticmethod
    def _message(msg: Any, fmt: str, q: dict[str, list[str]]) -> dict[str, Any]:
        full: dict[str, Any] = {
            "id": msg.id,
            "threadId": msg.thread_id,
            "labelIds": list(msg.labels),
            "snippet": "the first words of the body, which syncd must never ask for",
            "historyId": str(msg.history_id),
            "internalDate": str(msg.internal_date),
            "sizeEstimate": 1234,
        }
        if fmt == "metadata":
            names = {h.lower() for h in q.get("metadataHeaders", [])}
            headers = [
                {"name": n, "value": v} for n, v in msg.headers if not names or n.lower() in names
            ]
            full["payload"] = {"mimeType": "text/plain", "headers": headers}
        fields = q.get("fields", [""])[0]
        if not fields:
            return full
        out: dict[str, Any] = {}
        for f in fields.split(","):
            top, _, sub = f.strip().partition("/")
            if top not in full:
                continue
            if sub and isinstance(full[top], dict):
                out.setdefault(top, {})[sub] = full[top].get(sub)
            else:
                out[top] = full[top]
        return out

    # -- batch -------------------------------------------------------------------------------

    def batch(self, headers: dict[str, str], body: bytes) -> Reply:
        ctype = {k.lower(): v for k, v in headers.items()}["content-type"]
        msg = email.parser.BytesParser().parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + body
        )
        boundary = f"batch_{uuid.uuid4().hex}"
        parts = []
        for part in msg.get_payload():
            cid = part["Content-ID"].strip()
            head = re.split(r"\r?\n\r?\n", part.get_payload(), maxsplit=1)[0]
            lines = re.split(r"\r?\n", head.strip())
            method, target, _ = lines[0].split(" ", 2)
            part_headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            split = urllib.parse.urlsplit(target)
            part_query = urllib.parse.parse_qs(split.query)
            if self.max_page:
                part_query["_max_page"] = [str(self.max_page)]
            status, rh, out = self.api(
                method,
                split.path,
                part_query,
                part_headers,
                b"",
                in_batch=True,
            )
            reason = {200: "OK", 404: "Not Found", 429: "Too Many Requests"}.get(status, "Error")
            extra = "".join(f"{k}: {v}\r\n" for k, v in rh.items())
            parts.append(
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                f"Content-ID: <response-{cid[1:-1]}>\r\n\r\n"
                f"HTTP/1.1 {status} {reason}\r\n{extra}\r\n{out.decode()}\r\n"
            )
        payload = "".join(parts) + f"--{boundary}--\r\n"
        return 200, {"Content-Type": f"multipart/mixed; boundary={boundary}"}, payload.encode()

    # -- Calendar ----------------------------------------------------------------------------

    def calendar(self, user: User, rest: str, q: dict[str, list[str]]) -> Reply:
        if rest == "users/me/calendarList":
            entries = [c.entry for c in user.calendars.values()]
            chunk, nxt = _page(entries, q, 100, 250)
            out: dict[str, Any] = {"kind": "calendar#calendarList", "items": chunk}
            if nxt:
                out["nextPageToken"] = nxt
            return _json(200, out)
        m = re.fullmatch(r"calendars/([^/]+)/events", rest)
        if not m:
            return google_error(404, "Not Found", "notFound")
        cid = urllib.parse.unquote(m.group(1))
        cal = user.calendars.get(cid)
        if cal is None:
            return google_error(404, "Not Found", "notFound")
        token = q.get("syncToken", [None])[0]
        if token:
            bad = {"timeMin", "timeMax", "updatedMin", "q", "orderBy", "iCalUID"} & set(q)
            if bad:
                return google_error(400, f"{sorted(bad)} not allowed with syncToken", "invalid")
            try:
                tcid, seq_s = token.rsplit(":", 1)
                seq = int(seq_s)
            except ValueError:
                seq, tcid = -1, ""
            if tcid != cid or seq < cal.min_seq:
                return google_error(
                    410,
                    "Sync token is no longer valid, a full sync is required.",
                    "fullSyncRequired",
                )
            items = [e for s, e in sorted(cal.events.values(), key=lambda x: x[0]) if s > seq]
        else:
            time_min = q.get("timeMin", [None])[0]
            items = []
            for _, e in sorted(cal.events.values(), key=lambda x: x[0]):
                if e.get("status") == "cancelled":
                    continue
                if time_min and _end(e) < datetime.fromisoformat(time_min):
                    continue
                items.append(e)
        chunk, nxt = _page(items, q, 250, 2500)
        out = {"kind": "calendar#events", "items": chunk}
        if nxt:
            out["nextPageToken"] = nxt
        else:
            out["nextSyncToken"] = f"{cid}:{cal.seq}"
        return _json(200, out)

    # -- People ------------------------------------------------------------------------------

    def people(self, book: Any, key: str, q: dict[str, list[str]]) -> Reply:
        token = q.get("syncToken", [None])[0]
        if token:
            seq = int(token.removeprefix("s")) if token.removeprefix("s").isdigit() else -1
            if seq < book.min_seq:
                return _json(
                    400,
                    {
                        "error": {
                            "code": 400,
                            "message": "Sync token is expired. Clear local cache and retry "
                            "call without the sync token.",
                            "status": "FAILED_PRECONDITION",
                            "details": [
                                {
                                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                                    "reason": "EXPIRED_SYNC_TOKEN",
                                    "domain": "people.googleapis.com",
                                }
                            ],
                        }
                    },
                )
            items = [p for s, p in sorted(book.people.values(), key=lambda x: x[0]) if s > seq]
        else:
            items = [
                p
                for _, p in sorted(book.people.values(), key=lambda x: x[0])
                if not (p.get("metadata") or {}).get("deleted")
            ]
        chunk, nxt = _page(items, q, 100, 1000)
        out: dict[str, Any] = {key: chunk} if chunk else {}
        if nxt:
            out["nextPageToken"] = nxt
        elif q.get("requestSyncToken", ["false"])[0] == "true":
            out["nextSyncToken"] = f"s{book.seq}"
        return _json(200, out)

    # -- OAuth -------------------------------------------------------------------------------

    def token(self, body: bytes) -> Reply:
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        with self.lock:
            self.token_requests += 1
            if form.get("grant_type") == "authorization_code":
                grant = self.auth_codes.pop(form.get("code", ""), None)
                if grant is None:
                    return _json(400, {"error": "invalid_grant", "error_description": "Bad code"})
                rt = self.grant(*grant)
            elif form.get("grant_type") == "refresh_token":
                rt = form.get("refresh_token", "")
                if rt not in self.refresh_tokens or rt in self.revoked:
                    return _json(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "Token has been expired or revoked.",
                        },
                    )
            else:
                return _json(400, {"error": "unsupported_grant_type"})
            email, scopes = self.refresh_tokens[rt]
            at = f"AT-{next(self._n)}"
            self.access_tokens[at] = (email, scopes)
        out = {
            "access_token": at,
            "expires_in": 3599,
            "token_type": "Bearer",
            "scope": " ".join(scopes),
        }
        if form.get("grant_type") == "authorization_code":
            out["refresh_token"] = rt
        return _json(200, out)

    def authorize(self, q: dict[str, list[str]]) -> Reply:
        """The consent screen, already clicked: redirect back with a code."""
        asked = q.get("scope", [""])[0].split()
        granted = tuple(s for s in asked if s not in self.deny_scopes)
        code = f"code-{next(self._n)}"
        assert self.auth_user, "set fake.auth_user first"
        self.auth_codes[code] = (self.auth_user, granted)
        params = {"code": code, "state": q.get("state", [""])[0], "scope": " ".join(granted)}
        location = q["redirect_uri"][0] + "?" + urllib.parse.urlencode(params)
        return 302, {"Location": location}, b""


def _end(item: dict[str, Any]) -> datetime:
    end = item.get("end") or {}
    value = end.get("dateTime") or (end.get("date", "1970-01-01") + "T00:00:00+00:00")
    return datetime.fromisoformat(value)


# -- helpers for tests and the benchmark ----------------------------------------------------


class FakeClock:
    """A clock for ctx.monotonic / ctx.sleep and the fake's quota: sleeping is instant."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class MiniStore:
    """What the sync engine does with batches, in a few lines: upserts keyed by source_id,
    deletions, full-sync sweeps per scope, the cursor written with its batch."""

    interactions: dict[str, Any] = field(default_factory=dict)
    contacts: dict[str, Any] = field(default_factory=dict)
    skipped: list[Any] = field(default_factory=list)
    cursor: dict[str, Any] | None = None
    account: str | None = None
    upserts_seen: int = 0
    sweeps: list[str] = field(default_factory=list)
    _open: dict[str, set[str]] = field(default_factory=dict)

    def apply(self, batch: Any) -> None:
        for scope in batch.full_sync_start:
            self._open[scope] = set()
        for it in batch.upserts:
            self.interactions[it.source_id] = it
            self.upserts_seen += 1
            for seen in self._open.values():
                seen.add(it.source_id)
        for sid in batch.deletions:
            self.interactions.pop(sid, None)
        for c in batch.contacts:
            self.contacts[c.source_id] = c
        for sid in batch.contact_deletions:
            self.contacts.pop(sid, None)
        self.skipped += batch.skipped
        for scope in batch.full_sync_end:
            seen = self._open.pop(scope, set())
            self.sweeps.append(scope)
            for sid, it in list(self.interactions.items()):
                if it.scope == scope and sid not in seen:
                    del self.interactions[sid]
        if batch.cursor is not None:
            self.cursor = batch.cursor
        if batch.account:
            self.account = batch.account

    def sync(self, connector: Any) -> list[Any]:
        batches = []
        for batch in connector.fetch(self.cursor):
            self.apply(batch)
            batches.append(batch)
        return batches
