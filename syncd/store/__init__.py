"""The store: SQLite, and the only part of syncd that speaks SQL.

Parts:

- ``facade``: :class:`Store`, one object per open file. Its own methods are the facts; its
  parts are ``store.derived``, ``store.people``, ``store.digests`` and ``store.meta``.
- ``connection``: opening the file (writer or reader), pragmas, the write transaction.
- ``facts``: sources and cursors, interactions, participants, address-book contacts, skipped
  items: what connectors reported, never a judgment.
- ``derived``: what the rules made of the facts (``contact_log``, ``address_names``,
  ``address_summary``), kept so that ``people`` and ``digest`` read one small table;
  ``summaries`` computes and grows the per-address summaries; ``shadow`` is a reader's
  in-memory derivation when the stored one is stale.
- ``people``: per-person settings from the CLI (snooze, mute, rhythm) and address merges,
  each a record with its origin (``syncd people merge``, a digest action) and time, that
  ``syncd people unmerge`` can split an address back out of.
- ``digests``: the send log's table (the exactly-once protocol is syncd.sendlog's).
- ``meta``: the key-value bookkeeping table. ``migrations``: the schema, forward only
  (applied by writers only).

Records it hands out are typed (frozen dataclasses, most in syncd.models so that the rules
read them without importing the store); no positional row leaves this package.

Rules for writers and readers:

- **One batch, one transaction.** ``Store.apply_batch`` writes a batch's facts, its cursor,
  and the contacts the rules derive from it (the sync engine hands the rules in: the store
  never imports them) in one transaction. A replayed batch changes nothing.
- **Writers take the lock up front.** Every write is ``BEGIN IMMEDIATE`` with a busy timeout
  (:meth:`connection.Connection.write`); a writer that waits past it gets ``StoreBusyError``
  and nothing is written.
- **Derivation by writers only.** After a rule change the next writer re-derives everything
  (``Store.bring_derived_up_to_date``) in chunks that each commit: a killed run resumes.
- **Readers never write.** ``Store.open_reader`` opens the file read-only (no mkdir, chmod,
  migration or WAL switch) and holds one snapshot; when the derived tables are stale it
  computes them in memory (TEMP tables of its own connection) and says so once. A reader
  never makes a writer fail, and works on a store the user made read-only.
"""

from syncd.errors import StoreBusyError, StoreError
from syncd.store.digests import DigestRecord
from syncd.store.facade import Store
from syncd.store.facts import BatchResult, SourceState
from syncd.store.people import Unmerged

__all__ = [
    "BatchResult",
    "DigestRecord",
    "SourceState",
    "Store",
    "StoreBusyError",
    "StoreError",
    "Unmerged",
]
