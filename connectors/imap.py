"""IMAP source: message headers from any IMAP server (Fastmail, iCloud, Proton Bridge, Dovecot...).

What it reads: the INBOX and the folder marked ``\\Sent`` by SPECIAL-USE (RFC 6154; common names
as a fallback) unless ``folders`` says otherwise. Only header fields are fetched
(``BODY.PEEK[HEADER.FIELDS (...)]``, never a body) from folders opened read-only (EXAMINE), so
nothing is ever marked as read.

The cursor, per folder::

    {"folders": {"INBOX": {"uidvalidity": 7, "last_uid": 1234, "uidnext": 1235,
                           "messages": 1200, "highestmodseq": 5678,
                           "known": [[1, 1100], [1102, 1234]], "flagged": {"17": 64},
                           "full": false}}}

- ``uidvalidity`` + ``last_uid``: new mail is ``UID last_uid+1:*``; a changed UIDVALIDITY
  means every UID of the folder changed meaning, so that folder is synced again, once,
  bracketed by ``full_sync_start``/``full_sync_end`` so that the store sweeps the old ids.
- ``uidnext``/``messages``/``highestmodseq`` from the last pass: when STATUS reports the same
  values the folder is unchanged and is not even opened (one cheap call per folder).
- ``known``: the UIDs we hold, as ranges; deletions are what the server no longer lists
  (or, with QRESYNC, what it reports as VANISHED).
- ``flagged``: UID -> Flag bits from IMAP flags (\\Deleted, \\Draft, $Junk) for the few
  messages that have any; with CONDSTORE a flag change re-reads that message's headers.
- ``full``: a first (or UIDVALIDITY) pass is under way; after a dropped connection it resumes
  after ``last_uid`` without starting the bracket again.

Each chunk of ``chunk_size`` messages is one batch, so a dropped connection resumes from the
last stored batch; within one ``fetch`` the connector itself reconnects a few times first.
"""

from __future__ import annotations

import contextlib
import imaplib
import ipaddress
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from copy import deepcopy
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from connectors.base import SourceConfig, SourceContext
from connectors.email_headers import (
    HeaderError,
    header_pairs,
    interaction_from_headers,
)
from connectors.imap_fetch import (
    changed_since,
    fetch_headers,
    message_flags,
    ranges_add,
    ranges_from,
    ranges_iter,
    uid_chunks,
)
from connectors.retry import RetryPolicy
from syncd.errors import NeedsReauthError, SourceError, UserError
from syncd.models import Batch, Flag, Interaction, Skip
from syncd.options import (
    Option,
    choice,
    integer,
    nonempty_string,
    number,
    path,
    since,
    string_list,
)
from syncd.secrets import PASSWORD_OPTIONS, resolve_password

OPTIONS: dict[str, Option] = {
    "host": Option(nonempty_string, help="IMAP server name, e.g. imap.fastmail.com."),
    "port": Option(integer(1, 65535), None, "Port; default 993 for tls, 143 otherwise."),
    "security": Option(
        choice("tls", "starttls", "none"),
        "tls",
        "tls (port 993), starttls (port 143), or none (only to a loopback address).",
    ),
    "username": Option(nonempty_string, help="Login name, usually the email address."),
    **PASSWORD_OPTIONS,
    "oauth2_token_command": Option(
        string_list, None, "Command that prints an OAuth2 access token: log in with XOAUTH2."
    ),
    "folders": Option(
        string_list,
        ("INBOX", "\\Sent"),
        "Folders to read; \\Sent, \\Archive... name a folder by its SPECIAL-USE role.",
    ),
    "since": Option(since, since("5y"), "How far back the first sync reaches."),
    "ca_file": Option(path, None, "PEM file of CA certificates to trust instead of the system's."),
    "chunk_size": Option(integer(1, 5000), 500, "Messages per FETCH and per stored batch."),
    "timeout": Option(number, 60.0, "Seconds before a silent connection counts as dropped."),
    "reconnects": Option(integer(0, 20), 3, "Reconnect attempts after a dropped connection."),
}

# SPECIAL-USE roles: folders with these are read with the matching flag (Trash and Junk are not
# read unless configured).
_ROLE_FLAGS = {
    b"\\Sent": Flag.SENT,
    b"\\Trash": Flag.TRASH,
    b"\\Junk": Flag.SPAM,
    b"\\Drafts": Flag.DRAFT,
}
_DROPPED = (imaplib.IMAP4.abort, OSError)  # includes socket.timeout and ssl.SSLError


def open(source: SourceConfig, ctx: SourceContext) -> ImapConnector:
    return ImapConnector(source, ctx)


def authenticate(source: SourceConfig, ctx: SourceContext, echo: Callable[[str], None]) -> None:
    """``syncd auth NAME``: log in once with the configured password (or token) to check it.

    The password itself stays where the config points (environment, command or keyring); this
    only proves it works, so that a source marked as needing re-auth can be cleared.
    """
    conn = ImapConnector(source, ctx)
    try:
        conn._connect()
    except _DROPPED as e:
        raise SourceError(f"{conn.host}:{conn.port}: cannot connect ({_reason(e)})") from None
    finally:
        conn._close()
    echo(f"{conn.host}: logged in as {source['username']}")


class ImapConnector:
    def __init__(self, source: SourceConfig, ctx: SourceContext):
        self.source = source
        self.ctx = ctx
        self.where = f"[sources.{source.name}]"
        self.host: str = source["host"]
        self.security: str = source.get("security", "tls")
        self.port: int = source.get("port") or (993 if self.security == "tls" else 143)
        if self.security == "none" and not _is_loopback(self.host):
            raise UserError(
                f"{self.where} security: 'none' would send the password in clear text; "
                f"it is allowed only to a loopback address, not {self.host!r}"
            )
        self.chunk_size: int = source.get("chunk_size", 500)
        self.retry = RetryPolicy(attempts=source.get("reconnects", 3), base=1.0, cap=30.0)
        self._client: Any = None
        self._cursor: dict[str, Any] = {"folders": {}}
        self._done = 0
        self._total = 0

    # ------------------------------------------------------------------ protocol
    def fetch(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        self._cursor = deepcopy(cursor) if cursor else {"folders": {}}
        self._cursor.setdefault("folders", {})
        failures = 0
        while True:
            try:
                for batch in self._sync():
                    failures = 0
                    yield batch
                return
            except _DROPPED as e:
                if isinstance(e, ssl.SSLCertVerificationError):
                    raise self._cert_error(e) from None
                failures += 1
                if failures > self.retry.attempts:
                    raise SourceError(
                        f"{self.host}:{self.port}: connection lost ({_reason(e)}); gave up after "
                        f"{self.retry.attempts} reconnects (the next sync resumes from here)"
                    ) from e
                self.ctx.log.warning(
                    "%s: connection to %s lost (%s); reconnecting", self.source.name, self.host, e
                )
                self.ctx.sleep(self.retry.delay(failures - 1))
            finally:
                self._close()

    # ------------------------------------------------------------------ connection
    def _connect(self) -> Any:
        from imapclient import IMAPClient
        from imapclient.exceptions import CapabilityError, LoginError

        ca_file = self.source.get("ca_file")
        tls = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        timeout = self.source.get("timeout", 60.0)
        try:
            client = IMAPClient(
                self.host,
                self.port,
                ssl=self.security == "tls",
                ssl_context=tls,
                timeout=timeout,
            )
            if self.security == "starttls":
                client.starttls(tls)
        except ssl.SSLCertVerificationError as e:
            raise self._cert_error(e) from None
        except CapabilityError:
            raise SourceError(
                f"{self.host}:{self.port}: the server does not offer STARTTLS"
            ) from None
        except socket.gaierror as e:
            raise SourceError(f"{self.where} host: cannot resolve {self.host!r}: {e}") from None
        self._client = client
        user = self.source["username"]
        try:
            if self.source.get("oauth2_token_command"):
                client.oauth2_login(user, self._oauth2_token())
            else:
                password = resolve_password(self.source.options, self.where, self.source.name)
                client.login(user, password)
        except LoginError as e:
            raise NeedsReauthError(
                f"{self.host}: login as {user} refused ({_reason(e)}); check the password or token"
            ) from None
        return client

    def _oauth2_token(self) -> str:
        cmd = list(self.source["oauth2_token_command"])
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            msg = f"{self.where} oauth2_token_command: could not run {cmd[0]!r}: {e}"
            raise UserError(msg) from None
        token = out.stdout.strip()
        if out.returncode != 0 or not token:
            raise NeedsReauthError(
                f"{self.where} oauth2_token_command: {cmd[0]!r} gave no token "
                f"(exit status {out.returncode})"
            )
        return token

    def _cert_error(self, e: ssl.SSLCertVerificationError) -> SourceError:
        detail = e.verify_message or _reason(e)
        return SourceError(f"{self.host}:{self.port}: certificate verify failed: {detail}")

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # already gone: just drop the socket
            with contextlib.suppress(Exception):
                client.shutdown()

    # ------------------------------------------------------------------ sync
    def _sync(self) -> Iterator[Batch]:
        client = self._connect()
        caps = set(client.capabilities())
        qresync = b"QRESYNC" in caps
        condstore = qresync or b"CONDSTORE" in caps
        if qresync:
            client.enable("QRESYNC")  # also makes expunges arrive as VANISHED
        elif condstore:
            client.enable("CONDSTORE")
        folders, skipped = self._resolve_folders(client)
        if skipped:
            yield Batch(skipped=skipped, cursor=deepcopy(self._cursor))
        self._done, self._total = 0, 0
        for name, flags in folders:
            yield from self._sync_folder(client, name, flags, condstore, qresync)

    def _resolve_folders(self, client: Any) -> tuple[list[tuple[str, int]], list[Skip]]:
        """(name, Flag bits of its SPECIAL-USE role) for each folder to read."""
        from imapclient.imapclient import SENT

        listed = {name: flags for flags, _delim, name in client.list_folders()}
        out: list[tuple[str, int]] = []
        skipped: list[Skip] = []
        for wanted in self.source.get("folders", ("INBOX", "\\Sent")):
            if wanted.startswith("\\"):
                role = wanted.encode()
                name = next((n for n, f in listed.items() if role in f), None)
                if name is None and role.lower() == SENT.lower():
                    name = client.find_special_folder(SENT)  # falls back to common names
                if name is None:
                    self.ctx.log.info("%s: no folder has the role %s", self.source.name, wanted)
                    continue
            elif wanted.upper() == "INBOX":
                name = "INBOX"
            elif wanted in listed:
                name = wanted
            else:
                skipped.append(Skip(f"folder {wanted}", "no such folder on the server"))
                continue
            role_flags = 0
            for flag, bit in _ROLE_FLAGS.items():
                if flag in listed.get(name, ()):
                    role_flags |= bit
            if name not in (n for n, _ in out):
                out.append((name, role_flags))
        return out, skipped

    def _sync_folder(
        self, client: Any, name: str, role: int, condstore: bool, qresync: bool
    ) -> Iterator[Batch]:
        what = ["UIDVALIDITY", "UIDNEXT", "MESSAGES"] + (["HIGHESTMODSEQ"] if condstore else [])
        status = {k.decode(): v for k, v in client.folder_status(name, what).items()}
        state = self._cursor["folders"].get(name)
        if state and state["uidvalidity"] != status["UIDVALIDITY"]:
            self.ctx.log.warning(
                "%s: UIDVALIDITY of %s changed: reading the folder again", self.source.name, name
            )
            state = None
        if state and not state.get("full") and _unchanged(state, status):
            return
        selected = client.select_folder(name, readonly=True)  # EXAMINE: flags stay untouched
        snapshot = {
            "uidvalidity": selected[b"UIDVALIDITY"],
            "uidnext": selected.get(b"UIDNEXT", status["UIDNEXT"]),
            "messages": selected[b"EXISTS"],
            "highestmodseq": selected.get(b"HIGHESTMODSEQ") if condstore else None,
        }
        if state is None or state.get("full"):
            yield from self._backfill(client, name, role, state, snapshot)
        else:
            yield from self._incremental(client, name, role, state, snapshot, qresync)

    def _backfill(
        self,
        client: Any,
        name: str,
        role: int,
        state: dict[str, Any] | None,
        snapshot: dict[str, Any],
    ) -> Iterator[Batch]:
        start: list[str] = []
        if state is None or state["uidvalidity"] != snapshot["uidvalidity"]:
            # The bracket starts once; a resumed pass must not restart it (that would sweep
            # what the earlier batches of this pass stored).
            start = [name]
            state = {**snapshot, "last_uid": 0, "known": [], "flagged": {}}
        state = {**deepcopy(state), "full": True}
        begin = self.source.get("since").start().date() if self.source.get("since") else None
        criteria: list[Any] = ["SINCE", begin] if begin else ["ALL"]
        uids = sorted(u for u in client.search(criteria) if u > state["last_uid"])
        self._total += len(uids)
        chunks = list(uid_chunks(uids, self.chunk_size))
        for i, chunk in enumerate(chunks):
            batch = self._fetch_chunk(client, name, role, state, chunk)
            state["last_uid"] = chunk[-1]
            state["known"] = ranges_add(state["known"], chunk)
            if i == len(chunks) - 1:
                batch.full_sync_end = [name]
                state = _finish(state, snapshot)
            batch.full_sync_start, start = start, []
            yield self._with_state(batch, name, state)
        if not chunks:
            yield self._with_state(
                Batch(full_sync_start=start, full_sync_end=[name]), name, _finish(state, snapshot)
            )

    def _incremental(
        self,
        client: Any,
        name: str,
        role: int,
        state: dict[str, Any],
        snapshot: dict[str, Any],
        qresync: bool,
    ) -> Iterator[Batch]:
        state = deepcopy(state)
        last = state["last_uid"]
        new = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)
        self._total += len(new)
        for chunk in uid_chunks(new, self.chunk_size):
            batch = self._fetch_chunk(client, name, role, state, chunk)
            state["last_uid"] = chunk[-1]
            state["known"] = ranges_add(state["known"], chunk)
            yield self._with_state(batch, name, state)

        known = set(ranges_iter(state["known"]))
        changed: dict[int, int] = {}
        vanished: set[int] | None = None
        if state.get("highestmodseq") and snapshot["highestmodseq"]:
            reported, changed = changed_since(client, state["highestmodseq"], qresync)
            vanished = reported if qresync else None
        if vanished is None:  # no QRESYNC: what the server no longer lists is gone
            vanished = known - set(client.search(["ALL"]))
        gone = sorted(known & vanished)
        batch = Batch(deletions=[self._source_id(name, state["uidvalidity"], u) for u in gone])
        known -= set(gone)
        flagged: dict[str, int] = {k: v for k, v in state["flagged"].items() if int(k) in known}
        refetch = [
            uid
            for uid, bits in sorted(changed.items())
            if uid in known and bits != flagged.get(str(uid), 0)
        ]
        state["known"] = ranges_from(sorted(known))
        state["flagged"] = flagged
        for chunk in uid_chunks(refetch, self.chunk_size):
            more = self._fetch_chunk(client, name, role, state, chunk)
            batch.upserts += more.upserts
            batch.skipped += more.skipped
        yield self._with_state(batch, name, _finish(state, snapshot))

    def _fetch_chunk(
        self, client: Any, folder: str, role: int, state: dict[str, Any], uids: list[int]
    ) -> Batch:
        """Headers of ``uids`` as one batch; updates ``state['flagged']`` in place."""
        batch = Batch()
        data = fetch_headers(client, uids)
        for uid in uids:
            item = data.get(uid)
            where = f"{folder}/{state['uidvalidity']}/{uid}"
            if item is None:  # expunged between SEARCH and FETCH
                continue
            flags, internaldate, raw = item
            bits = message_flags(flags)
            if bits:
                state["flagged"][str(uid)] = bits
            else:
                state["flagged"].pop(str(uid), None)
            try:
                pairs = header_pairs(raw or b"")
                batch.upserts.append(_interaction(pairs, internaldate, where, role | bits, folder))
            except HeaderError as e:
                batch.skipped.append(Skip(where, e.reason))
            except Exception as e:  # hostile headers must never stop a sync
                batch.skipped.append(Skip(where, f"unreadable headers: {e}"))
        self._done += len(uids)
        return batch

    def _with_state(self, batch: Batch, folder: str, state: dict[str, Any]) -> Batch:
        # From here on, a reconnect (or the next batch) resumes after this batch.
        self._cursor["folders"][folder] = deepcopy(state)
        batch.cursor = deepcopy(self._cursor)
        batch.progress = (self._done, self._total)
        batch.progress_unit = "messages"
        if "@" in self.source["username"]:
            batch.account = self.source["username"].lower()
        return batch

    @staticmethod
    def _source_id(folder: str, uidvalidity: int, uid: int) -> str:
        return f"{folder}/{uidvalidity}/{uid}"


# ---------------------------------------------------------------------- helpers
def _interaction(
    pairs: list[tuple[str, str]], internaldate: datetime | None, where: str, flags: int, folder: str
) -> Interaction:
    try:
        return interaction_from_headers(pairs, source_id=where, scope=folder, flags=flags)
    except HeaderError:
        if internaldate is None:
            raise
    # No usable Date header: the server's arrival time is a fact about the message too.
    pairs = [(k, v) for k, v in pairs if k.lower() != "date"]
    pairs.append(("Date", format_datetime(internaldate.astimezone(UTC))))
    return interaction_from_headers(pairs, source_id=where, scope=folder, flags=flags)


def _unchanged(state: dict[str, Any], status: dict[str, Any]) -> bool:
    same = state.get("uidnext") == status["UIDNEXT"] and state.get("messages") == status["MESSAGES"]
    if "HIGHESTMODSEQ" in status:
        same = same and state.get("highestmodseq") == status["HIGHESTMODSEQ"]
    return same


def _finish(state: dict[str, Any], snapshot: dict[str, Any]) -> dict[str, Any]:
    """State after a complete pass: the server's counters as of the pass's start.

    ``last_uid`` moves up to UIDNEXT-1 even when ``since`` left the older UIDs unread, so that
    the next pass asks only for mail that arrived after this one began.
    """
    last = max(state["last_uid"], snapshot["uidnext"] - 1)
    return {**state, **snapshot, "last_uid": last, "full": False}


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


def _reason(e: BaseException) -> str:
    text = e.args[0] if e.args else str(e)
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return str(text) or type(e).__name__
