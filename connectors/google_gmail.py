"""Gmail under the ``gmail.metadata`` scope: headers and labels, never bodies.

Backfill (api-facts.md §13.1): remember ``getProfile.historyId`` first, then list SENT mail
(the strongest signal, so a useful digest exists early), then everything else, fetching
``format=metadata`` with ``fields=`` (no snippet) in batches of at most 50. Incremental:
``history.list`` from the stored historyId. A 404 there means the id expired: one full
resync, bracketed so that the engine sweeps messages that vanished meanwhile.

Never send ``q`` or ``format=full``/``raw``: the metadata scope rejects them.

State (the ``"gmail"`` part of the source cursor)::

    {"history_id": "123",                   # set once a backfill has completed
     "backfill": {"history_id": "120",      # while a backfill runs
                  "pass": "sent" | "all", "page_token": "...", "full": true}}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from connectors.email_headers import (
    HEADER_FIELDS,
    HeaderError,
    flags_from_gmail_labels,
    interaction_from_headers,
)
from connectors.google_quota import Caller, chunks, http_status
from syncd.models import Batch, Interaction, Skip

SCOPE = "gmail"
# Takeout-only headers are useless over the API.
METADATA_HEADERS = tuple(h for h in HEADER_FIELDS if h not in ("X-GM-THRID", "X-Gmail-Labels"))
# `fields=` keeps `snippet` (body text) out of every answer (api-facts.md §1.1).
MESSAGE_FIELDS = "id,threadId,labelIds,internalDate,historyId,payload/headers"
HISTORY_TYPES = ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]
# Label changes that change a stored fact; UNREAD/STARRED/IMPORTANT do not.
RELEVANT_LABELS = frozenset({"SPAM", "TRASH", "SENT", "DRAFT", "CHAT", "INBOX"})
LIST_PAGE = 500
# Listing is newest first (observed, not promised): stop a pass after this many
# consecutive chunks that lie wholly before the look-back cutoff.
OLD_CHUNKS_TO_STOP = 2

Step = tuple[Batch, bool]  # a batch and whether the state after it is a valid cursor


def source_id(message_id: str) -> str:
    return f"gmail:{message_id}"


def _internal_date(msg: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(msg["internalDate"]) / 1000, UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return None


def normalize(msg: dict[str, Any]) -> Interaction | Skip:
    """One ``messages.get`` (format=metadata) answer as an Interaction, or why not."""
    mid = str(msg.get("id", "?"))
    headers = [
        (h.get("name", ""), h.get("value", ""))
        for h in (msg.get("payload") or {}).get("headers") or ()
        if isinstance(h, dict)
    ]
    labels = [x for x in msg.get("labelIds") or () if isinstance(x, str)]
    flags = flags_from_gmail_labels(label for label in labels if label != "CATEGORY_PERSONAL")
    kwargs: dict[str, Any] = {"source_id": source_id(mid), "scope": SCOPE, "flags": flags}
    try:
        interaction = interaction_from_headers(headers, **kwargs)
    except HeaderError as e:
        # A broken Date: Gmail's own receipt time is a sound fallback.
        when = _internal_date(msg)
        if when is None:
            return Skip(f"gmail message {mid}", f"{e.reason}, and no internalDate")
        fixed = [(n, v) for n, v in headers if n.lower() != "date"]
        fixed.append(("Date", format_datetime(when)))
        try:
            interaction = interaction_from_headers(fixed, **kwargs)
        except HeaderError as e2:
            return Skip(f"gmail message {mid}", e2.reason)
    # Gmail's thread id groups a conversation more reliably than References.
    return dataclasses.replace(interaction, thread_id=msg.get("threadId") or interaction.thread_id)


class _Expired(Exception):
    pass


class GmailSync:
    def __init__(
        self,
        service: Any,
        caller: Caller,
        *,
        batch_uri: str,
        since: datetime,
        batch_size: int = 50,
        source_name: str = "gmail",
    ):
        self.service = service
        self.caller = caller
        self.batch_uri = batch_uri
        self.since = since
        self.batch_size = batch_size
        self.source_name = source_name
        self.account: str | None = None
        self.messages_total: int | None = None
        self._sent_seen: set[str] = set()  # ids fetched by this run's SENT pass
        self._done = 0
        self.resyncs = 0  # full resyncs started because the historyId expired

    # -- API calls ---------------------------------------------------------------------------

    def _users(self) -> Any:
        return self.service.users()

    def profile(self) -> dict[str, Any]:
        prof = self.caller.call(self._users().getProfile(userId="me"), "getProfile")
        self.account = str(prof.get("emailAddress") or "").lower() or None
        total = prof.get("messagesTotal")
        self.messages_total = int(total) if isinstance(total, int | str) else None
        return prof

    def fetch_metadata(self, ids: list[str]) -> Batch:
        """``messages.get`` for ``ids`` in one batch; 404s become deletions."""
        msgs = self._users().messages()
        requests = {
            mid: msgs.get(
                userId="me",
                id=mid,
                format="metadata",
                metadataHeaders=list(METADATA_HEADERS),
                fields=MESSAGE_FIELDS,
            )
            for mid in dict.fromkeys(ids)
        }
        results, failures = self.caller.batch(requests, "messages.get", self.batch_uri)
        batch = Batch()
        for mid in requests:
            if mid in results:
                item = normalize(results[mid])
                if isinstance(item, Skip):
                    batch.skipped.append(item)
                else:
                    batch.upserts.append(item)
            elif http_status(failures.get(mid)) == 404:
                batch.deletions.append(source_id(mid))
            else:
                batch.skipped.append(Skip(f"gmail message {mid}", str(failures.get(mid))))
        self._done += len(requests)
        batch.progress = (self._done, self.messages_total)
        batch.progress_unit = "messages"
        return batch

    # -- sync --------------------------------------------------------------------------------

    def fetch(self, state: dict[str, Any]) -> Iterator[Step]:
        """Bring ``state`` (mutated in place) up to date, yielding batches on the way."""
        if state.get("backfill") is None and state.get("history_id"):
            try:
                yield from self._incremental(state)
                return
            except _Expired:
                self.resyncs += 1
                state["history_id"] = None
                state["backfill"] = None
        yield from self._backfill(state)

    def _incremental(self, state: dict[str, Any]) -> Iterator[Step]:
        from googleapiclient.errors import HttpError

        start = str(state["history_id"])
        ops: dict[str, str] = {}  # message id -> "fetch" | "delete", last word wins
        page_token: str | None = None
        latest = start
        while True:
            req = (
                self._users()
                .history()
                .list(
                    userId="me",
                    startHistoryId=start,
                    historyTypes=HISTORY_TYPES,
                    maxResults=LIST_PAGE,
                    pageToken=page_token,
                )
            )
            try:
                page = self.caller.call(req, "history.list")
            except HttpError as e:
                if http_status(e) == 404:
                    raise _Expired from e
                raise
            for record in page.get("history") or ():
                for added in record.get("messagesAdded") or ():
                    m = added.get("message") or {}
                    # Draft saves create a new message each time; they never count.
                    if m.get("id") and "DRAFT" not in (m.get("labelIds") or ()):
                        ops[m["id"]] = "fetch"
                for deleted in record.get("messagesDeleted") or ():
                    m = deleted.get("message") or {}
                    if m.get("id"):
                        ops[m["id"]] = "delete"
                for key in ("labelsAdded", "labelsRemoved"):
                    for change in record.get(key) or ():
                        m = change.get("message") or {}
                        relevant = set(change.get("labelIds") or ()) & RELEVANT_LABELS or any(
                            str(x).startswith("CATEGORY_") for x in change.get("labelIds") or ()
                        )
                        if m.get("id") and relevant and ops.get(m["id"]) != "delete":
                            ops[m["id"]] = "fetch"
            latest = str(page.get("historyId") or latest)
            page_token = page.get("nextPageToken")
            if not page_token:
                break
        if latest == start and not ops:
            return  # nothing new: no batch, no write
        to_fetch = [mid for mid, op in ops.items() if op == "fetch"]
        deletions = [source_id(mid) for mid, op in ops.items() if op == "delete"]
        pieces = list(chunks(to_fetch, self.batch_size)) or [[]]
        for i, piece in enumerate(pieces):
            batch = self.fetch_metadata(piece) if piece else Batch()
            last = i == len(pieces) - 1
            if last:
                batch.deletions += deletions
                state["history_id"] = latest
            batch.account = self.account
            yield batch, last

    def _backfill(self, state: dict[str, Any]) -> Iterator[Step]:
        bf = state.get("backfill")
        first = bf is None
        if first or self.account is None:
            prof = self.profile()
        if first:
            # Before listing anything, so that nothing arriving meanwhile is missed.
            bf = {"history_id": str(prof["historyId"]), "pass": "sent", "page_token": None}
            bf["full"] = True
            state["backfill"] = bf
        assert bf is not None
        opened = not first  # the full-sync bracket was opened by an earlier run
        cutoff = self.since
        for pass_name in ("sent", "all"):
            if bf["pass"] != pass_name:
                continue
            old_chunks = 0
            while True:
                req = (
                    self._users()
                    .messages()
                    .list(
                        userId="me",
                        maxResults=LIST_PAGE,
                        pageToken=bf["page_token"],
                        labelIds=["SENT"] if pass_name == "sent" else None,
                    )
                )
                page = self.caller.call(req, "messages.list")
                ids = [m["id"] for m in page.get("messages") or () if m.get("id")]
                if pass_name == "sent":
                    self._sent_seen.update(ids)
                else:
                    ids = [i for i in ids if i not in self._sent_seen]
                next_token = page.get("nextPageToken")
                pieces = list(chunks(ids, self.batch_size)) or [[]]
                stop = False
                for i, piece in enumerate(pieces):
                    batch = self.fetch_metadata(piece) if piece else Batch()
                    newest = max((it.occurred_at for it in batch.upserts), default=None)
                    old = newest is not None and newest < cutoff
                    old_chunks = old_chunks + 1 if old else 0
                    stop = old_chunks >= OLD_CHUNKS_TO_STOP or (
                        i == len(pieces) - 1 and not next_token
                    )
                    last_of_page = stop or i == len(pieces) - 1
                    if not opened:
                        batch.full_sync_start.append(SCOPE)
                        opened = True
                    if last_of_page:
                        if stop and pass_name == "sent":
                            bf.update({"pass": "all", "page_token": None})
                        elif stop:
                            # Done: the cursor is the historyId from before the listing.
                            state["history_id"] = bf["history_id"]
                            state["backfill"] = None
                            if bf.get("full"):
                                batch.full_sync_end.append(SCOPE)
                        else:
                            bf["page_token"] = next_token
                    batch.account = self.account
                    yield batch, last_of_page
                    if stop:
                        break
                if stop:
                    break

    def send(self, raw: str) -> str:
        sent = self.caller.call(
            self._users().messages().send(userId="me", body={"raw": raw}), "messages.send"
        )
        return str(sent["id"])
