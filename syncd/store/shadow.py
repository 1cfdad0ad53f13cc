"""A reader's own fresh derived tables, in memory: how readers see current contacts without
writing when the stored ones are stale.

TEMP tables and views on the reader's connection take the stored tables' names
(``contact_log``, ``address_names``, ``address_summary``); SQLite resolves an unqualified name to
``temp`` first, so every read query of syncd.store.derived sees them and the file is never
touched. With the stored rows' rules, only the queued interactions are derived and the dirty
summaries recomputed; with other rules, everything is.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence

from syncd.models import AddressSummary, ContactDeriver, StoredInteraction
from syncd.store.connection import chunks
from syncd.store.summaries import (
    LOG_COLUMNS,
    SUMMARY_COLUMNS,
    log_row,
    summaries_from_log,
    summary_values,
)

CHUNK = 5000  # interactions loaded and derived at a time

_NAMES = (
    "SELECT address, name, count(*) AS n FROM temp.derived_log "
    "WHERE name IS NOT NULL AND name != '' GROUP BY address, name"
)
_OBJECTS = (  # what build_shadow creates, for drop_shadow
    ("view", "contact_log"),
    ("view", "address_summary"),
    ("view", "address_names"),
    ("table", "address_names"),
    ("table", "summary_stale"),
    ("table", "summary_fresh"),
    ("table", "derived_log"),
)


def build_shadow(
    sql: sqlite3.Connection,
    deriver: ContactDeriver,
    same_rules: bool,
    load: Callable[[Sequence[int]], list[StoredInteraction]],
    page_ids: Callable[[int, int], list[int]],
) -> None:
    """Derive into TEMP tables what the stored tables lack (``same_rules``: the queue and the
    dirty summaries; otherwise everything) and shadow the stored tables with them."""
    sql.execute(
        "CREATE TEMP TABLE derived_log (interaction_id INTEGER NOT NULL, address TEXT NOT "
        "NULL, ts INTEGER NOT NULL, day INTEGER NOT NULL, kind TEXT NOT NULL, dir TEXT NOT "
        "NULL, weight REAL NOT NULL, name TEXT, PRIMARY KEY (interaction_id, address)) "
        "WITHOUT ROWID"
    )
    if same_rules:
        queued = [r[0] for r in sql.execute("SELECT interaction_id FROM main.contact_queue")]
        batches: Iterator[Sequence[int]] = chunks(queued, CHUNK)
    else:
        batches = _all_ids(page_ids)
    for ids in batches:
        sql.executemany(
            f"INSERT INTO temp.derived_log ({LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [log_row(r) for r in deriver.derive(load(ids))],
        )
    sql.execute("CREATE INDEX temp.derived_log_address ON derived_log (address, ts)")
    sql.execute("CREATE INDEX temp.derived_log_ts ON derived_log (ts)")
    sql.execute(
        "CREATE TEMP TABLE summary_fresh (address TEXT PRIMARY KEY, days INTEGER, "
        "last_ts INTEGER, n_out INTEGER, n_in INTEGER, n_meet INTEGER, wsum REAL, "
        "last_in_ts INTEGER, last_mine_ts INTEGER, recent TEXT) WITHOUT ROWID"
    )
    if not same_rules:
        sql.execute("CREATE TEMP VIEW contact_log AS SELECT * FROM temp.derived_log")
        sql.execute(f"CREATE TEMP TABLE address_names AS {_NAMES}")
        _insert_fresh(sql, summaries_from_log(sql, None, None))
        sql.execute("CREATE TEMP VIEW address_summary AS SELECT * FROM temp.summary_fresh")
        return
    sql.execute(
        f"CREATE TEMP VIEW contact_log AS SELECT {LOG_COLUMNS} FROM main.contact_log "
        f"UNION ALL SELECT {LOG_COLUMNS} FROM temp.derived_log"
    )
    sql.execute(
        "CREATE TEMP VIEW address_names AS SELECT address, name, sum(n) AS n FROM ("
        f"SELECT address, name, n FROM main.address_names UNION ALL {_NAMES}"
        ") GROUP BY address, name"
    )
    sql.execute(
        "CREATE TEMP TABLE summary_stale AS SELECT address FROM main.summary_dirty "
        "UNION SELECT DISTINCT address FROM temp.derived_log"
    )
    stale = [r[0] for r in sql.execute("SELECT address FROM temp.summary_stale")]
    for chunk in chunks(stale):
        _insert_fresh(sql, summaries_from_log(sql, chunk, None))
    sql.execute(
        f"CREATE TEMP VIEW address_summary AS SELECT {SUMMARY_COLUMNS} "
        "FROM main.address_summary WHERE address NOT IN temp.summary_stale "
        f"UNION ALL SELECT {SUMMARY_COLUMNS} FROM temp.summary_fresh"
    )


def drop_shadow(sql: sqlite3.Connection) -> None:
    """Remove what build_shadow made: the stored tables show through again."""
    for kind, name in _OBJECTS:
        exists = sql.execute(
            "SELECT 1 FROM temp.sqlite_master WHERE type = ? AND name = ?", (kind, name)
        ).fetchone()
        if exists:
            sql.execute(f"DROP {kind.upper()} temp.{name}")


def _insert_fresh(sql: sqlite3.Connection, summaries: Iterable[AddressSummary]) -> None:
    sql.executemany(
        f"INSERT INTO temp.summary_fresh ({SUMMARY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [summary_values(s) for s in summaries],
    )


def _all_ids(page_ids: Callable[[int, int], list[int]]) -> Iterator[Sequence[int]]:
    after = 0
    while ids := page_ids(after, CHUNK):
        yield ids
        after = ids[-1]
