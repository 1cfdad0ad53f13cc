"""Schema migrations of the store, applied in order, each in its own transaction.

The store holds history that cannot be re-fetched (a source may have deleted it), so the
schema only ever moves forward through these functions: never delete-and-rebuild. Add a new
function at the end; never edit one that has shipped.

They are applied with sqlite-utils' migrations (recorded in ``_sqlite_migrations`` under the
set name ``syncd``), which only writers import: readers compare names (:data:`NAMES`) and start
faster without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database
    from sqlite_utils.migrations import Migrations

SET_NAME = "syncd"
TABLE = "_sqlite_migrations"  # where sqlite-utils records what was applied

_MIGRATIONS: list[Callable[[Database], None]] = []


def _migration(fn: Callable[[Database], None]) -> Callable[[Database], None]:
    _MIGRATIONS.append(fn)
    return fn


def migration_set() -> Migrations:
    """Every migration, in order, as a sqlite-utils migration set (for writers)."""
    from sqlite_utils.migrations import Migrations

    migrations = Migrations(SET_NAME)
    for fn in _MIGRATIONS:
        migrations(name=fn.__name__)(fn)
    return migrations


@_migration
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE sources (
            name TEXT PRIMARY KEY,
            type TEXT NOT NULL,
            cursor TEXT,                -- the connector's JSON state
            account TEXT,               -- the user's own address at this source
            seq INTEGER NOT NULL DEFAULT 0,   -- batches applied so far
            sweeps TEXT NOT NULL DEFAULT '{}', -- scope -> seq at which a full sync started
            last_ok_at TEXT,
            last_attempt_at TEXT,
            last_error TEXT,
            auth_state TEXT NOT NULL DEFAULT 'ok'
        );
        CREATE TABLE interactions (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            kind TEXT NOT NULL,          -- email | meeting
            occurred_at TEXT NOT NULL,   -- ISO 8601 UTC
            ts INTEGER NOT NULL,         -- the same, in epoch seconds
            ends_at TEXT,
            subject TEXT,
            thread_id TEXT,
            message_id TEXT,
            in_reply_to TEXT,
            flags INTEGER NOT NULL DEFAULT 0,
            head_count INTEGER NOT NULL DEFAULT 0,
            scope TEXT NOT NULL DEFAULT '',
            seq INTEGER NOT NULL,        -- sources.seq of the batch that last wrote it
            UNIQUE (source, source_id)
        );
        CREATE INDEX interactions_sweep ON interactions (source, scope, seq);
        CREATE INDEX interactions_message_id ON interactions (message_id);
        CREATE TABLE participants (
            interaction_id INTEGER NOT NULL REFERENCES interactions(id),
            address TEXT NOT NULL,
            role TEXT NOT NULL,
            name TEXT,
            response TEXT,
            PRIMARY KEY (interaction_id, address, role)
        ) WITHOUT ROWID;
        CREATE INDEX participants_address ON participants (address);
        CREATE TABLE contacts (
            source TEXT NOT NULL,
            source_id TEXT NOT NULL,
            name TEXT,
            emails TEXT NOT NULL,        -- JSON list, lowercase
            birthday TEXT,               -- ISO date; year 1900 = unknown year
            PRIMARY KEY (source, source_id)
        );
        CREATE TABLE skipped (
            source TEXT NOT NULL,
            location TEXT NOT NULL,
            reason TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (source, location)
        );
        -- Per-person settings set from the CLI (snooze, mute, rhythm) and manual merges.
        CREATE TABLE people (
            key TEXT PRIMARY KEY,        -- the person's primary address
            name TEXT,
            rhythm_days INTEGER,
            muted INTEGER NOT NULL DEFAULT 0,
            snoozed_until TEXT,
            birthday TEXT
        );
        CREATE TABLE addresses (
            address TEXT PRIMARY KEY,
            person_key TEXT NOT NULL     -- merged into this person (syncd people merge)
        );
        CREATE TABLE digests (
            period TEXT PRIMARY KEY,     -- e.g. 2026-W48
            state TEXT NOT NULL,         -- pending | sent
            message_id TEXT NOT NULL,
            message TEXT,                -- the exact MIME message, so a retry resends the same
            people TEXT,                 -- JSON list of the people listed
            created_at TEXT NOT NULL,
            sent_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0
        );
        -- Derived from the facts by the rules (syncd.rules); rebuilt when the rules change.
        CREATE TABLE contact_log (
            interaction_id INTEGER NOT NULL,
            address TEXT NOT NULL,
            ts INTEGER NOT NULL,
            day INTEGER NOT NULL,        -- days since 1970-01-01 in the user's time zone
            kind TEXT NOT NULL,          -- email | meeting
            dir TEXT NOT NULL,           -- out (user wrote) | in (they wrote) | meet
            weight REAL NOT NULL,        -- smaller for bigger groups
            name TEXT,
            PRIMARY KEY (interaction_id, address)
        ) WITHOUT ROWID;
        CREATE INDEX contact_log_address ON contact_log (address, ts);
        CREATE TABLE contact_queue (interaction_id INTEGER PRIMARY KEY);
        CREATE TABLE address_names (
            address TEXT NOT NULL,
            name TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (address, name)
        ) WITHOUT ROWID;
        CREATE TRIGGER contact_log_name_add AFTER INSERT ON contact_log
        WHEN NEW.name IS NOT NULL AND NEW.name != ''
        BEGIN
            INSERT INTO address_names (address, name, n) VALUES (NEW.address, NEW.name, 1)
            ON CONFLICT (address, name) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER contact_log_name_remove AFTER DELETE ON contact_log
        WHEN OLD.name IS NOT NULL AND OLD.name != ''
        BEGIN
            UPDATE address_names SET n = n - 1 WHERE address = OLD.address AND name = OLD.name;
            DELETE FROM address_names WHERE address = OLD.address AND name = OLD.name AND n <= 0;
        END;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        """
    )


@_migration
def m002_address_summary(db: Database) -> None:
    """Per-address aggregates of contact_log, kept current for the addresses whose contacts
    changed (tracked by triggers), so that `people` and `digest` read one small table."""
    db.executescript(
        """
        CREATE TABLE address_summary (
            address TEXT PRIMARY KEY,
            days INTEGER NOT NULL,       -- distinct contact days
            last_ts INTEGER NOT NULL,
            n_out INTEGER NOT NULL,
            n_in INTEGER NOT NULL,
            n_meet INTEGER NOT NULL,
            wsum REAL NOT NULL,          -- sum(weight * exp((ts - T0) / tau)): see relationships
            last_in_ts INTEGER NOT NULL,
            last_mine_ts INTEGER NOT NULL,
            recent TEXT NOT NULL         -- JSON: the newest distinct contact days, newest first
        ) WITHOUT ROWID;
        CREATE TABLE summary_dirty (address TEXT PRIMARY KEY) WITHOUT ROWID;
        CREATE TRIGGER contact_log_dirty_add AFTER INSERT ON contact_log
        BEGIN
            INSERT OR IGNORE INTO summary_dirty (address) VALUES (NEW.address);
        END;
        CREATE TRIGGER contact_log_dirty_remove AFTER DELETE ON contact_log
        BEGIN
            INSERT OR IGNORE INTO summary_dirty (address) VALUES (OLD.address);
        END;
        CREATE INDEX contact_log_ts ON contact_log (ts);
        INSERT INTO summary_dirty (address) SELECT DISTINCT address FROM contact_log;
        """
    )


@_migration
def m003_merge_records(db: Database) -> None:
    """Merges become records with an origin and a time, so that ``syncd people unmerge`` can
    split an address back out of a person and say what it undoes, whoever made the merge.

    The ``addresses`` table (address -> person key, written by ``syncd people merge``) carries
    over: each key with the addresses pointing at it is one record of origin ``cli``, time
    unknown (NULL), exactly the groups it made before. The old table goes: one truth."""
    db.executescript(
        """
        CREATE TABLE merges (
            id INTEGER PRIMARY KEY,
            origin TEXT NOT NULL,        -- cli | digest-action | unmerge
            made_at TEXT,                -- ISO 8601 UTC; NULL: carried over, time unknown
            note TEXT                    -- e.g. the Message-ID of a digest action
        );
        CREATE TABLE merge_members (
            merge_id INTEGER NOT NULL REFERENCES merges(id),
            address TEXT NOT NULL,
            split_at TEXT,               -- when `syncd people unmerge` split it out; NULL: in
            PRIMARY KEY (merge_id, address)
        ) WITHOUT ROWID;
        CREATE INDEX merge_members_address ON merge_members (address);
        """
    )
    groups: dict[str, set[str]] = {}
    for address, key in db.execute("SELECT address, person_key FROM addresses").fetchall():
        groups.setdefault(key, {key}).add(address)
    for members in sorted(sorted(m) for m in groups.values() if len(m) > 1):
        merge_id = db.execute("INSERT INTO merges (origin, made_at) VALUES ('cli', NULL)").lastrowid
        db.conn.executemany(
            "INSERT INTO merge_members (merge_id, address) VALUES (?, ?)",
            [(merge_id, a) for a in members],
        )
    db.execute("DROP TABLE addresses")


NAMES = tuple(fn.__name__ for fn in _MIGRATIONS)
