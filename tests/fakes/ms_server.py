"""A stateful fake of the Microsoft identity platform and of Microsoft Graph, on 127.0.0.1.

One threaded HTTP(S) server answers both:

- identity: ``/{tenant}/v2.0/.well-known/openid-configuration``,
  ``/{tenant}/oauth2/v2.0/devicecode`` and ``/{tenant}/oauth2/v2.0/token`` (device-code
  polling and refresh; revoked grants answer ``invalid_grant`` the way Entra does);
- Graph under ``/v1.0``: ``/me``, ``/me/mailFolders/{folder}/messages/delta``,
  ``/me/calendarView/delta``, ``/me/events/{id}``, ``/me/contacts``, ``/me/sendMail``.

Delta rounds work like Exchange's: a round starts from a snapshot of the folder, pages with
``$skiptoken`` nextLinks and ends with a ``$deltatoken`` deltaLink that remembers the position
in the folder's change log; each folder has a *generation* and ``expire_folder`` bumps it, which
turns every outstanding token of the folder (deltaLinks and nextLinks alike) into
``410 SyncStateNotFound``. The fake also pages, throttles (a queue of canned 429s, a
requests-per-window limit, a concurrency limit), counts requests in flight, adds latency, and
serves canned bad payloads. It is test code: simple, not fast.
"""

from __future__ import annotations

import base64
import json
import secrets
import ssl
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAIL_FOLDERS = ("inbox", "sentitems", "archive", "drafts", "deleteditems", "junkemail")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Canned:
    """A canned answer for the next ``times`` Graph requests whose path contains ``match``."""

    match: str
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


@dataclass
class Collection:
    """A folder (or the calendar): current items plus an append-only change log of ids."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    generation: int = 1
    pages_served: int = 0
    expire_after_pages: int | None = None  # bump the generation after this many more pages

    def put(self, item: dict[str, Any]) -> None:
        self.items[item["id"]] = item
        self.log.append(item["id"])

    def remove(self, item_id: str) -> None:
        self.items.pop(item_id, None)
        self.log.append(item_id)


class MsFake:
    """The shared state behind the server, with knobs for tests and benchmarks."""

    def __init__(
        self,
        *,
        user: str = "ada@contoso.example",
        client_ids: tuple[str, ...] = ("11111111-2222-3333-4444-555555555555",),
        tls: ssl.SSLContext | None = None,
    ):
        self.user = user
        self.client_ids = set(client_ids)
        self.tls = tls
        self.lock = threading.RLock()
        self.folders: dict[str, Collection] = {f: Collection() for f in MAIL_FOLDERS}
        self.calendar = Collection()
        self.masters: dict[str, dict[str, Any]] = {}
        self.contacts: list[dict[str, Any]] = []
        self.sent: list[bytes] = []  # decoded MIME of each sendMail
        # identity state
        self.device_codes: dict[str, dict[str, Any]] = {}
        self.refresh_tokens: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, float] = {}  # token -> expiry (time.time())
        self.granted_scopes: set[str] = set()
        self.revoked = False
        self.auto_approve = False  # the "user" approves every device code at once (CLI tests)
        # delta state: token -> round description
        self.tokens: dict[str, dict[str, Any]] = {}
        # faults and limits
        self.canned: deque[Canned] = deque()
        self.latency = 0.0  # seconds per Graph request
        self.latency_per_item = 0.0
        self.max_concurrent: int | None = None  # answer 429 beyond this many in flight
        self.window_limit: tuple[int, float] | None = None  # (requests, seconds)
        self.clock = time.monotonic  # the window's clock: tests share a fake one with the client
        self.arrivals: list[float] = []  # clock() as each Graph request reached the throttle
        self.retry_after_throttled = "1"
        self._window: deque[float] = deque()
        self.in_flight = 0
        self.max_in_flight = 0
        self.requests: Counter[str] = Counter()  # by kind: "delta", "master", "token", ...
        self.status_counts: Counter[int] = Counter()
        self.log: list[tuple[str, str, int]] = []  # (method, path+query, status)
        self.prefer_seen: list[str] = []
        self.selects_seen: list[str] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle
    def start(self) -> MsFake:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def authority(self, tenant: str = "common") -> str:
        return f"{self.base_url}/{tenant}"

    # ---------------------------------------------------------------- test knobs
    def approve(self, user_code: str) -> None:
        """The user typed the code in a browser and consented."""
        with self.lock:
            for dc in self.device_codes.values():
                if dc["user_code"] == user_code:
                    dc["approved"] = True
                    return
        raise KeyError(user_code)

    def revoke(self) -> None:
        """The user changed their password or an admin revoked the sessions."""
        with self.lock:
            self.revoked = True
            self.access_tokens.clear()

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.access_tokens = dict.fromkeys(self.access_tokens, 0.0)

    def expire_folder(self, name: str, *, after_pages: int | None = None) -> None:
        """Invalidate every token of a folder ("calendar" for the calendar), now or later."""
        with self.lock:
            coll = self._collection(name)
            if after_pages is None:
                coll.generation += 1
            else:
                coll.expire_after_pages = after_pages

    def can(
        self, match: str, status: int, body: Any = "", *, times: int = 1, **headers: str
    ) -> None:
        text = body if isinstance(body, str) else json.dumps(body)
        with self.lock:
            self.canned.append(Canned(match, status, text, dict(headers), times))

    def throttle(self, times: int, retry_after: str = "0.01", match: str = "/v1.0/") -> None:
        self.can(
            match,
            429,
            {"error": {"code": "TooManyRequests", "message": "Application is over its limit."}},
            times=times,
            **{"Retry-After": retry_after},
        )

    def _collection(self, name: str) -> Collection:
        return self.calendar if name == "calendar" else self.folders[name]

    # ---------------------------------------------------------------- data
    def add_message(self, folder: str, msg: dict[str, Any]) -> None:
        with self.lock:
            self.folders[folder].put(msg)

    def remove_message(self, folder: str, msg_id: str) -> None:
        with self.lock:
            self.folders[folder].remove(msg_id)

    def move_message(self, msg_id: str, src: str, dst: str) -> None:
        """Immutable ids: the id stays the same across the move."""
        with self.lock:
            msg = self.folders[src].items[msg_id]
            self.folders[src].remove(msg_id)
            self.folders[dst].put(msg)

    def add_event(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.calendar.put(event)

    def remove_event(self, event_id: str) -> None:
        with self.lock:
            self.calendar.remove(event_id)

    def add_master(self, master: dict[str, Any]) -> None:
        with self.lock:
            self.masters[master["id"]] = master

    # ---------------------------------------------------------------- identity
    def _token_response(self, scopes: set[str], tenant: str) -> dict[str, Any]:
        now = int(time.time())
        tid = "9188040d-6c67-4c5b-b112-36a304b66dad"
        uid = "00000000-0000-0000-1234-abcdefabcdef"
        claims = {
            "iss": f"{self.base_url}/{tid}/v2.0",
            "aud": next(iter(self.client_ids)),
            "sub": "subject",
            "oid": uid,
            "tid": tid,
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "preferred_username": self.user,
            "name": "Ada Lovelace",
        }
        id_token = ".".join(
            [
                _b64url(b'{"alg":"none","typ":"JWT"}'),
                _b64url(json.dumps(claims).encode()),
                "",
            ]
        )
        at = "at-" + secrets.token_hex(8)
        rt = "rt-" + secrets.token_hex(8)
        self.access_tokens[at] = time.time() + 3600
        self.refresh_tokens[rt] = {"scopes": set(scopes)}
        return {
            "token_type": "Bearer",
            "scope": " ".join(sorted(scopes | {"openid", "profile", "offline_access"})),
            "expires_in": 3600,
            "ext_expires_in": 3600,
            "access_token": at,
            "refresh_token": rt,
            "id_token": id_token,
            "client_info": _b64url(json.dumps({"uid": uid, "utid": tid}).encode()),
        }

    def handle_identity(
        self, method: str, path: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        tenant = parts[0]
        rest = "/".join(parts[1:])
        base = f"{self.base_url}/{tenant}"
        if rest == "v2.0/.well-known/openid-configuration":
            self.requests["openid"] += 1
            return 200, {
                "issuer": f"{self.base_url}/{{tenantid}}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "response_types_supported": ["code", "id_token"],
            }
        if method != "POST":
            return 404, {"error": "not_found"}
        client_id = form.get("client_id", "")
        if client_id not in self.client_ids:
            return 400, {
                "error": "unauthorized_client",
                "error_description": f"AADSTS700016: Application with identifier '{client_id}' "
                "was not found in the directory.",
            }
        scopes = {s for s in form.get("scope", "").split() if "." in s or s == "User.Read"}
        if rest == "oauth2/v2.0/devicecode":
            self.requests["devicecode"] += 1
            dc = secrets.token_hex(8)
            code = secrets.token_hex(4).upper()
            self.device_codes[dc] = {
                "user_code": code,
                "approved": self.auto_approve,
                "scopes": scopes,
            }
            return 200, {
                "device_code": dc,
                "user_code": code,
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900,
                "interval": 1,
                "message": "To sign in, use a web browser to open the page "
                f"https://microsoft.com/devicelogin and enter the code {code} to authenticate.",
            }
        if rest == "oauth2/v2.0/token":
            self.requests["token"] += 1
            grant = form.get("grant_type", "")
            if grant == "urn:ietf:params:oauth:grant-type:device_code":
                dc = self.device_codes.get(form.get("device_code", ""))
                if dc is None:
                    return 400, {"error": "expired_token", "error_description": "AADSTS70019"}
                if not dc["approved"]:
                    return 400, {
                        "error": "authorization_pending",
                        "error_description": "AADSTS70016: OAuth 2.0 device flow error. "
                        "Authorization is pending.",
                    }
                del self.device_codes[form["device_code"]]
                self.revoked = False
                self.granted_scopes = set(dc["scopes"])
                return 200, self._token_response(dc["scopes"], tenant)
            if grant == "refresh_token":
                rt = self.refresh_tokens.get(form.get("refresh_token", ""))
                if self.revoked or rt is None:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "AADSTS50173: The provided grant has expired due "
                        "to it being revoked, a fresh auth token is needed.",
                        "suberror": "bad_token",
                        "error_codes": [50173],
                    }
                missing = scopes - self.granted_scopes
                if missing:
                    return 400, {
                        "error": "invalid_grant",
                        "error_description": "AADSTS65001: The user or administrator has not "
                        f"consented to use the application: {' '.join(sorted(missing))}.",
                        "suberror": "consent_required",
                        "error_codes": [65001],
                    }
                return 200, self._token_response(self.granted_scopes, tenant)
            return 400, {"error": "unsupported_grant_type"}
        return 404, {"error": "not_found"}

    # ---------------------------------------------------------------- Graph
    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        expiry = self.access_tokens.get(header[7:])
        return expiry is not None and expiry > time.time()

    def admit(self) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """The throttling decision for one Graph request (called with the lock held)."""
        self.arrivals.append(self.clock())
        if self.max_concurrent is not None and self.in_flight > self.max_concurrent:
            return (
                429,
                {"error": {"code": "ApplicationThrottled", "message": "MailboxConcurrency"}},
                {"Retry-After": self.retry_after_throttled},
            )
        if self.window_limit is not None:
            limit, span = self.window_limit
            now = self.clock()
            while self._window and self._window[0] <= now - span:
                self._window.popleft()
            if len(self._window) >= limit:
                wait = self._window[0] + span - now
                return (
                    429,
                    {"error": {"code": "ApplicationThrottled", "message": "Too many requests"}},
                    {"Retry-After": f"{max(wait, 0.001):.3f}"},
                )
            self._window.append(now)
        return None

    def _project(self, item: dict[str, Any], select: list[str] | None) -> dict[str, Any]:
        if not select:
            return dict(item)
        out = {k: v for k, v in item.items() if k in select or k.startswith("@odata")}
        out["id"] = item["id"]
        return out

    def _in_window(self, event: dict[str, Any], window: tuple[str, str] | None) -> bool:
        if window is None:
            return True
        start = event.get("start", {}).get("dateTime", "")[:19]
        return window[0][:19] <= start < window[1][:19]

    def delta(
        self, name: str, query: dict[str, str], prefer: str, link_base: str
    ) -> tuple[int, dict[str, Any]]:
        coll = self._collection(name)
        page_size = 10
        for part in prefer.split(","):
            part = part.strip()
            if part.startswith("odata.maxpagesize="):
                page_size = int(part.split("=", 1)[1])
        token = query.get("$skiptoken") or query.get("$deltatoken")
        if token:
            state = self.tokens.get(token)
            if state is None or state["gen"] != coll.generation:
                return 410, {
                    "error": {
                        "code": "SyncStateNotFound",
                        "message": f"The sync state generation is not found; "
                        f"generation={state['gen'] if state else 0};[highest={coll.generation}]",
                    }
                }
            if "$deltatoken" in query:  # a new round of changes since the deltaLink
                seen: dict[str, None] = {}
                for item_id in coll.log[state["seq"] :]:
                    seen.pop(item_id, None)
                    seen[item_id] = None
                state = {**state, "ids": list(seen), "pos": 0, "seq": len(coll.log)}
        else:
            window = None
            if name == "calendar":
                window = (query.get("startDateTime", ""), query.get("endDateTime", ""))
            select = query.get("$select", "").split(",") if query.get("$select") else None
            ids = sorted(i for i, it in coll.items.items() if self._in_window(it, window))
            state = {
                "gen": coll.generation,
                "ids": ids,
                "pos": 0,
                "seq": len(coll.log),
                "select": select,
                "window": window,
            }
        chunk = state["ids"][state["pos"] : state["pos"] + page_size]
        value = []
        for item_id in chunk:
            item = coll.items.get(item_id)
            if item is None or not self._in_window(item, state["window"]):
                value.append({"id": item_id, "@removed": {"reason": "deleted"}})
            else:
                value.append(self._project(item, state["select"]))
        new_state = {**state, "pos": state["pos"] + len(chunk)}
        tok = secrets.token_hex(8)
        self.tokens[tok] = new_state
        body: dict[str, Any] = {"value": value}
        if new_state["pos"] < len(state["ids"]):
            body["@odata.nextLink"] = f"{link_base}?$skiptoken={tok}"
        else:
            body["@odata.deltaLink"] = f"{link_base}?$deltatoken={tok}"
        coll.pages_served += 1
        if coll.expire_after_pages is not None:
            coll.expire_after_pages -= 1
            if coll.expire_after_pages <= 0:
                coll.expire_after_pages = None
                coll.generation += 1
        return 200, body

    def handle_graph(
        self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        prefer = ",".join(headers.get_all("Prefer") or [])
        self.prefer_seen.append(prefer)
        if "$select" in query:
            self.selects_seen.append(query["$select"])
        route = path[len("/v1.0") :]
        if route == "/me" and method == "GET":
            self.requests["me"] += 1
            return 200, {"userPrincipalName": self.user, "mail": self.user}, {}
        if route.startswith("/me/mailFolders/") and route.endswith("/messages/delta"):
            folder = unquote(route.split("/")[3])
            if folder not in self.folders:
                return 404, {"error": {"code": "ErrorInvalidIdMalformed"}}, {}
            self.requests["delta"] += 1
            status, data = self.delta(folder, query, prefer, self.base_url + path)
            return status, data, {}
        if route == "/me/calendarView/delta":
            self.requests["calendar"] += 1
            status, data = self.delta("calendar", query, prefer, self.base_url + path)
            return status, data, {}
        if route.startswith("/me/events/"):
            self.requests["master"] += 1
            master = self.masters.get(unquote(route.split("/")[3]))
            if master is None:
                return 404, {"error": {"code": "ErrorItemNotFound"}}, {}
            return 200, master, {}
        if route == "/me/contacts":
            self.requests["contacts"] += 1
            top = int(query.get("$top", "10"))
            skip = int(query.get("$skip", "0"))
            out: dict[str, Any] = {"value": self.contacts[skip : skip + top]}
            if skip + top < len(self.contacts):
                out["@odata.nextLink"] = (
                    f"{self.base_url}{path}?$top={top}&$skip={skip + top}"
                    f"&$select={query.get('$select', '')}"
                )
            return 200, out, {}
        if route == "/me/sendMail" and method == "POST":
            self.requests["sendmail"] += 1
            if not headers.get("Content-Type", "").startswith("text/plain"):
                return 400, {"error": {"code": "ErrorInvalidRequest"}}, {}
            try:
                mime = base64.b64decode(body, validate=True)
            except ValueError:
                return 400, {"error": {"code": "ErrorMimeContentInvalidBase64String"}}, {}
            if "Mail.Send" not in self.granted_scopes:
                return 403, {"error": {"code": "ErrorAccessDenied"}}, {}
            self.sent.append(mime)
            return 202, None, {}
        return 404, {"error": {"code": "ResourceNotFound", "message": route}}, {}


class _Handler(BaseHTTPRequestHandler):
    fake: MsFake
    protocol_version = "HTTP/1.1"
    # One write per response (headers + body), no Nagle: otherwise every request pays a
    # delayed-ACK stall of ~40 ms on loopback.
    wbufsize = -1
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else (body if isinstance(body, str) else json.dumps(body))
        data = raw.encode() if isinstance(raw, str) else raw
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not url.path.startswith("/v1.0/"):
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            with fake.lock:
                status, data = fake.handle_identity(method, url.path, form)
            self._send(status, data)
            return
        with fake.lock:
            fake.in_flight += 1
            fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            self._graph(method, url.path, url.query, query, body)
        finally:
            with fake.lock:
                fake.in_flight -= 1

    def _graph(
        self, method: str, path: str, raw_query: str, query: dict[str, str], body: bytes
    ) -> None:
        fake = self.fake
        status: int
        data: Any
        headers: dict[str, str] = {}
        with fake.lock:
            canned = next((c for c in fake.canned if c.match in path + "?" + raw_query), None)
            if canned is not None:
                canned.times -= 1
                if canned.times <= 0:
                    fake.canned.remove(canned)
            if not fake.authorized(self.headers.get("Authorization")):
                verdict = (401, {"error": {"code": "InvalidAuthenticationToken"}}, {})
            elif canned is not None:
                verdict = (canned.status, canned.body, canned.headers)
            else:
                verdict = fake.admit()
        if fake.latency:
            time.sleep(fake.latency)
        if verdict is None:
            with fake.lock:
                status, data, headers = fake.handle_graph(method, path, query, self.headers, body)
            if fake.latency_per_item and isinstance(data, dict):
                time.sleep(fake.latency_per_item * len(data.get("value", ())))
        else:
            status, data, headers = verdict
        with fake.lock:
            fake.status_counts[status] += 1
            fake.log.append((method, path + ("?" + raw_query if raw_query else ""), status))
        self._send(status, data, headers)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


def tls_pair() -> tuple[ssl.SSLContext, str]:
    """A server TLS context for 127.0.0.1 and the path of a CA bundle that trusts it."""
    import tempfile

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    bundle = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)  # noqa: SIM115
    bundle.write(ca.cert_pem.bytes().decode())
    bundle.close()
    return ctx, bundle.name


# ---------------------------------------------------------------- sample data
def message(
    msg_id: str,
    *,
    sender: str,
    to: list[str],
    when: str = "2024-03-01T10:00:00Z",
    subject: str = "Hello",
    cc: list[str] | None = None,
    classification: str = "focused",
    headers: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """A Graph message resource with the fields syncd selects (plus a body it must not ask for)."""

    def rcpt(a: str) -> dict[str, Any]:
        return {"emailAddress": {"name": a.split("@")[0].title(), "address": a}}

    msg: dict[str, Any] = {
        "@odata.etag": 'W/"x"',
        "id": msg_id,
        "subject": subject,
        "from": rcpt(sender),
        "sender": rcpt(sender),
        "toRecipients": [rcpt(a) for a in to],
        "ccRecipients": [rcpt(a) for a in cc or []],
        "bccRecipients": [],
        "sentDateTime": when,
        "receivedDateTime": when,
        "conversationId": "conv-" + msg_id,
        "internetMessageId": f"<{msg_id}@mail.example>",
        "isDraft": False,
        "inferenceClassification": classification,
        "body": {"contentType": "text", "content": "SECRET BODY"},
        "bodyPreview": "SECRET BODY",
    }
    if headers is not None:
        msg["internetMessageHeaders"] = headers
    return msg


def populate(fake: MsFake, n_inbox: int, n_sent: int, *, me: str | None = None) -> None:
    """Bulk mailbox content for tests and benchmarks."""
    me = me or fake.user
    with fake.lock:
        for i in range(n_inbox):
            fake.folders["inbox"].put(
                message(f"in{i:07d}", sender=f"p{i % 500}@ex.example", to=[me])
            )
        for i in range(n_sent):
            fake.folders["sentitems"].put(
                message(f"se{i:07d}", sender=me, to=[f"p{i % 500}@ex.example"])
            )


def event(
    event_id: str,
    *,
    start: str,
    end: str,
    organizer: str,
    attendees: list[tuple[str, str, str]],  # (address, type, response)
    subject: str = "Meeting",
    **extra: Any,
) -> dict[str, Any]:
    """A Graph event (calendarView shape, times in UTC)."""
    return {
        "id": event_id,
        "type": "singleInstance",
        "subject": subject,
        "start": {"dateTime": start + ".0000000", "timeZone": "UTC"},
        "end": {"dateTime": end + ".0000000", "timeZone": "UTC"},
        "organizer": {"emailAddress": {"name": organizer.split("@")[0], "address": organizer}},
        "attendees": [
            {
                "type": kind,
                "status": {"response": response, "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": addr.split("@")[0].title(), "address": addr},
            }
            for addr, kind, response in attendees
        ],
        "isCancelled": False,
        "showAs": "busy",
        "isAllDay": False,
        "responseStatus": {"response": "accepted", "time": "0001-01-01T00:00:00Z"},
        **extra,
    }


def occurrence(event_id: str, master_id: str, *, start: str, end: str) -> dict[str, Any]:
    """A skeletal occurrence, as calendarView/delta returns them (no attendees, no subject)."""
    return {
        "@odata.type": "#microsoft.graph.event",
        "id": event_id,
        "seriesMasterId": master_id,
        "type": "occurrence",
        "start": {"dateTime": start + ".0000000", "timeZone": "UTC"},
        "end": {"dateTime": end + ".0000000", "timeZone": "UTC"},
    }


# ---------------------------------------------------------------- harness for connector tests
class MiniStore:
    """The engine's contract in 30 lines: apply batches, keep the cursor, sweep full syncs."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}  # source_id -> Interaction
        self.contacts: dict[str, Any] = {}
        self.cursor: dict[str, Any] | None = None
        self.account: str | None = None
        self.skipped: list[Any] = []
        self.batches: list[Any] = []
        self._marks: dict[str, set[str]] = {}

    def apply(self, batch: Any) -> None:
        self.batches.append(batch)
        for scope in batch.full_sync_start:
            self._marks[scope] = set()
        for i in batch.upserts:
            self.items[i.source_id] = i
            if i.scope in self._marks:
                self._marks[i.scope].add(i.source_id)
        for sid in batch.deletions:
            self.items.pop(sid, None)
        for scope, sid in batch.scoped_deletions:
            if sid in self.items and self.items[sid].scope == scope:
                del self.items[sid]
        for c in batch.contacts:
            self.contacts[c.source_id] = c
        for sid in batch.contact_deletions:
            self.contacts.pop(sid, None)
        for scope in batch.full_sync_end:
            seen = self._marks.pop(scope, set())
            for sid in [s for s, i in self.items.items() if i.scope == scope and s not in seen]:
                del self.items[sid]
        self.skipped += batch.skipped
        if batch.account:
            self.account = batch.account
        if batch.cursor is not None:
            self.cursor = batch.cursor

    def sync(self, connector: Any) -> list[Any]:
        """One run of the engine; returns this run's batches."""
        start = len(self.batches)
        for batch in connector.fetch(self.cursor):
            self.apply(batch)
        return self.batches[start:]
