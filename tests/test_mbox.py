"""connectors.mbox on hand-made mailboxes: separators, cursor, incremental and full syncs."""

from __future__ import annotations

import io
import itertools
import os
from pathlib import Path
from typing import Any

import pytest

import connectors.mbox as mbox
from connectors.base import SourceConfig, SourceContext
from syncd.errors import SourceError
from syncd.models import Batch, Flag
from syncd.secrets import SecretStore


def message(n: int, *, sender: str = "ada@example.org", extra: str = "", body: str = "") -> str:
    return (
        f"From {sender} Mon Jan  1 10:{n % 60:02d}:00 2024\n"
        f"From: Person {n} <{sender}>\n"
        f"To: bob{n}@example.com\n"
        f"Date: Mon, 1 Jan 2024 10:{n % 60:02d}:00 +0000\n"
        f"Message-ID: <m{n}@example.org>\n"
        f"Subject: message {n}\n"
        f"{extra}"
        "\n"
        f"{body or f'Body of message {n}.'}\n"
        "\n"
    )


def write(path: Path, text: str, *, crlf: bool = False) -> Path:
    data = text.replace("\n", "\r\n") if crlf else text
    path.write_bytes(data.encode("utf-8"))
    return path


def connector(path: Path | str, tmp_path: Path, **options: Any) -> Any:
    source = SourceConfig("archive", "mbox", {"path": str(path), **options})
    ctx = SourceContext("archive", tmp_path, SecretStore(tmp_path / "secrets"))
    return mbox.open(source, ctx)


def run(conn: Any, cursor: dict[str, Any] | None = None) -> list[Batch]:
    return list(conn.fetch(cursor))


def upserts(batches: list[Batch]) -> list[Any]:
    return [u for b in batches for u in b.upserts]


def subjects(batches: list[Batch]) -> list[str | None]:
    return [u.subject for u in upserts(batches)]


def last_cursor(batches: list[Batch]) -> dict[str, Any]:
    cursors = [b.cursor for b in batches if b.cursor is not None]
    assert cursors
    return cursors[-1]


def test_messages_are_read_with_scope_progress_and_full_sync_brackets(tmp_path):
    path = write(tmp_path / "a.mbox", "".join(message(n) for n in range(3)))
    batches = run(connector(path, tmp_path))
    scope = str(path.resolve())
    assert subjects(batches) == ["message 0", "message 1", "message 2"]
    assert batches[0].full_sync_start == [scope]
    assert batches[-1].full_sync_end == [scope]
    assert all(u.scope == scope for u in upserts(batches))
    assert batches[-1].progress == (path.stat().st_size, path.stat().st_size)
    assert batches[-1].progress_unit == "bytes"
    assert [u.source_id for u in upserts(batches)] == [
        "mid:m0@example.org",
        "mid:m1@example.org",
        "mid:m2@example.org",
    ]


def test_crlf_file_bom_and_escaped_from_lines(tmp_path):
    text = message(1, body="Hi\n>From the archives\n\n>From here on") + message(2)
    path = tmp_path / "crlf.mbox"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    batches = run(connector(path, tmp_path))
    assert subjects(batches) == ["message 1", "message 2"]
    assert [p.address for p in upserts(batches)[0].participants] == [
        "ada@example.org",
        "bob1@example.com",
    ]


def test_from_lines_inside_bodies_do_not_split_messages(tmp_path):
    body = (
        "Dear Bob,\n"
        "From time to time we meet.\n"  # not after a blank line, not separator-shaped
        "\n"
        "From Russia with love\n"  # after a blank line, but not separator-shaped
        "Year: 1963\n"
        "\n"
        "From me\n"  # a single token, but the next line is not a header
        "\n"
        "See you,\n"
        "From bob@example.com Mon Jan  1 10:00:00 2024\n"  # separator-shaped, mid-paragraph
        "and so on"
    )
    path = write(tmp_path / "body.mbox", message(1, body=body) + message(2))
    batches = run(connector(path, tmp_path))
    assert subjects(batches) == ["message 1", "message 2"]
    assert sum(len(b.skipped) for b in batches) == 0


def test_separator_variants_extra_text_and_takeout_without_blank_line(tmp_path):
    text = (
        "From MAILER-DAEMON Sun Aug  7 11:40:37 2022 extra info\n"
        "Date: Sun, 7 Aug 2022 11:40:37 +0000\nSubject: one\n\nbody\n"
        # Takeout: no blank line before the next separator, a header right after it
        "From 1529555944956622147@xxx Wed Mar 23 01:57:00 +0000 2016\n"
        "X-GM-THRID: 1529553825574740118\n"
        "X-Gmail-Labels: Sent,Important\n"
        "Date: Wed, 23 Mar 2016 01:57:00 +0000\nSubject: two\n\nbody\n"
        # Netscape and newer Takeout: a single token, a header right after it
        "From - \n"
        "Date: Wed, 23 Mar 2016 02:00:00 +0000\nSubject: three\n\nbody\n"
        "From 1844347839636459560@xxx\n"
        "Date: Wed, 23 Mar 2016 03:00:00 +0000\nSubject: four\n"  # no body at all
    )
    path = write(tmp_path / "variants.mbox", text)
    items = upserts(run(connector(path, tmp_path)))
    assert [u.subject for u in items] == ["one", "two", "three", "four"]
    assert items[1].flags == Flag.SENT
    assert items[1].thread_id == "1529553825574740118"


def test_unparseable_messages_become_skips_with_offsets(tmp_path):
    chat = (
        "From 1@xxx Wed Mar 23 01:57:00 +0000 2016\n"
        "X-Gmail-Labels: Chat\nFrom: Person <p@example.net>\n\nhello\n\n"
    )
    no_date = "From 2@xxx Wed Mar 23 01:57:00 +0000 2016\nFrom: a@b.org\nSubject: x\n\nb\n\n"
    bad_date = (
        "From 3@xxx Wed Mar 23 01:57:00 +0000 2016\n"
        "Date: Tue, 06 Jun 2017 27:39:33 +0600\nSubject: y\n\nb\n\n"
    )
    first = message(1)
    path = write(tmp_path / "skips.mbox", first + chat + no_date + bad_date + message(5))
    batches = run(connector(path, tmp_path))
    scope = str(path.resolve())
    skipped = [s for b in batches for s in b.skipped]
    assert subjects(batches) == ["message 1", "message 5"]
    assert [s.where for s in skipped] == [
        f"{scope}:offset {len(first)}",
        f"{scope}:offset {len(first) + len(chat)}",
        f"{scope}:offset {len(first) + len(chat) + len(no_date)}",
    ]
    assert skipped[0].reason == "chat entry without Date"
    assert skipped[1].reason == "no Date header"
    assert "27:39:33" in skipped[2].reason


def test_oversized_header_block_is_skipped_not_buffered(tmp_path, monkeypatch):
    monkeypatch.setattr(mbox, "MAX_HEADER_BYTES", 1000)
    huge = message(2, extra="X-Junk: " + "x" * 5000 + "\n")
    path = write(tmp_path / "huge.mbox", message(1) + huge + message(3))
    batches = run(connector(path, tmp_path))
    assert subjects(batches) == ["message 1", "message 3"]
    assert [s.reason for b in batches for s in b.skipped] == ["header block larger than 1000 bytes"]


@pytest.mark.parametrize("chunk", [7, 64, 1000])
def test_scanner_gives_the_same_messages_whatever_the_chunk_size(chunk):
    text = (
        message(1, body="a\n\nFrom here\n>From x")
        + message(2, body="")
        + "From 9@xxx Wed Mar 23 01:57:00 +0000 2016\nX-A: 1\n"
        + "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
        + message(3)
    ).encode()
    expected = list(mbox.scan(io.BytesIO(text), 0, len(text), chunk=1 << 20))
    got = list(mbox.scan(io.BytesIO(text), 0, len(text), chunk=chunk))
    assert got == expected
    assert len(got) == 4
    assert got[0].start == 0 and got[-1].end == len(text)
    assert all(a.end == b.start for a, b in itertools.pairwise(got))
    assert all(m.header is not None and b"\n\n" not in m.header for m in got)


def test_batches_carry_cursors_that_resume_exactly(tmp_path):
    path = write(tmp_path / "a.mbox", "".join(message(n) for n in range(7)))
    batches = run(connector(path, tmp_path, batch_size=3))
    assert [len(b.upserts) for b in batches] == [3, 3, 1]
    scope = str(path.resolve())
    assert batches[0].full_sync_start == [scope] and batches[0].full_sync_end == []
    assert batches[-1].full_sync_end == [scope]
    # A SIGKILL after the first batch was stored: the next run starts from its cursor.
    resumed = run(connector(path, tmp_path, batch_size=3), batches[0].cursor)
    assert subjects(resumed) == [f"message {n}" for n in range(3, 7)]
    assert resumed[0].full_sync_start == []
    assert resumed[-1].full_sync_end == [scope]  # the interrupted full sync still ends
    offsets = [b.cursor["files"][scope]["offset"] for b in batches]
    assert offsets == sorted(offsets) and offsets[-1] == path.stat().st_size
    assert offsets[0] == len("".join(message(n) for n in range(3)))


def test_unchanged_file_costs_nothing_and_yields_no_upserts(tmp_path, monkeypatch):
    path = write(tmp_path / "a.mbox", message(1))
    conn = connector(path, tmp_path)
    cursor = last_cursor(run(conn))

    def no_reads(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an unchanged file must not be read")

    monkeypatch.setattr(mbox, "scan", no_reads)
    monkeypatch.setattr(mbox, "_head_digest", no_reads)
    assert upserts(run(conn, cursor)) == []


def test_appended_messages_are_read_from_the_stored_offset(tmp_path):
    path = write(tmp_path / "a.mbox", message(1) + message(2))
    conn = connector(path, tmp_path)
    cursor = last_cursor(run(conn))
    with path.open("a") as f:
        f.write(message(3) + message(4))
    batches = run(conn, cursor)
    assert subjects(batches) == ["message 3", "message 4"]
    assert all(not b.full_sync_start and not b.full_sync_end for b in batches)
    assert last_cursor(batches)["files"][str(path.resolve())]["offset"] == path.stat().st_size
    assert upserts(run(conn, last_cursor(batches))) == []


def test_rewritten_file_is_a_full_resync_of_that_file_only(tmp_path):
    a = write(tmp_path / "a.mbox", message(1) + message(2))
    b = write(tmp_path / "b.mbox", message(10))
    conn = connector(tmp_path / "*.mbox", tmp_path)
    cursor = last_cursor(run(conn))
    write(a, message(2) + message(3))  # message 1 deleted: the head changed
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    batches = run(conn, cursor)
    scope = str(a.resolve())
    assert subjects(batches) == ["message 2", "message 3"]
    assert batches[0].full_sync_start == [scope]
    assert batches[-1].full_sync_end == [scope]
    assert str(b.resolve()) not in {s for x in batches for s in x.full_sync_start}


def test_same_size_touch_is_a_full_resync(tmp_path):
    path = write(tmp_path / "a.mbox", message(1))
    conn = connector(path, tmp_path)
    cursor = last_cursor(run(conn))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    batches = run(conn, cursor)
    assert subjects(batches) == ["message 1"]
    assert batches[0].full_sync_start == [str(path.resolve())]


def test_vanished_file_is_swept_by_an_empty_full_sync(tmp_path):
    a = write(tmp_path / "a.mbox", message(1))
    write(tmp_path / "b.mbox", message(2))
    conn = connector(tmp_path / "*.mbox", tmp_path)
    cursor = last_cursor(run(conn))
    a.unlink()
    batches = run(conn, cursor)
    scope = str(a.resolve())
    assert batches[0].full_sync_start == [scope] and batches[0].full_sync_end == [scope]
    assert upserts(batches) == []
    assert scope not in last_cursor(batches)["files"]


def test_identical_message_ids_dedupe_by_source_id(tmp_path):
    path = write(tmp_path / "a.mbox", message(1) + message(1))
    ids = [u.source_id for u in upserts(run(connector(path, tmp_path)))]
    assert ids == ["mid:m1@example.org", "mid:m1@example.org"]


@pytest.mark.parametrize("name", ["missing.mbox", "*.nothing"])
def test_missing_path_or_empty_glob_is_a_source_error_naming_it(tmp_path, name):
    with pytest.raises(SourceError, match=r"nothing|missing\.mbox") as info:
        run(connector(tmp_path / name, tmp_path))
    assert "\n" not in str(info.value)


def test_directory_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="not a file"):
        run(connector(tmp_path, tmp_path))


def test_options_spec_requires_path_and_defaults_batch_size():
    assert mbox.OPTIONS["path"].required
    assert mbox.OPTIONS["batch_size"].default == 2000


def test_file_not_starting_with_a_separator_is_still_read(tmp_path):
    path = write(tmp_path / "one.eml", message(1).split("\n", 1)[1])
    assert subjects(run(connector(path, tmp_path))) == ["message 1"]


# -- through the store (syncd.store): crash-resume and sweeps --------------------------------


def store_sync(store: Any, conn: Any, *, stop_after: int | None = None) -> int:
    """Apply batches as the engine does; stop_after simulates a SIGKILL after N batches."""
    store.ensure_source("archive", "mbox")
    state = store.source_state("archive")
    applied = 0
    for batch in conn.fetch(state.cursor if state else None):
        if stop_after is not None and applied == stop_after:
            break
        store.apply_batch("archive", batch)
        applied += 1
    return applied


def stored_ids(store: Any) -> list[str]:
    rows = store.conn.execute("SELECT source_id FROM interactions ORDER BY source_id")
    return [r[0] for r in rows]


def test_killed_import_resumes_to_the_same_store_as_a_clean_run(tmp_path):
    from syncd.store import Store

    path = write(tmp_path / "a.mbox", "".join(message(n) for n in range(10)))
    clean = Store.open(tmp_path / "clean.db")
    store_sync(clean, connector(path, tmp_path, batch_size=3))
    crashed = Store.open(tmp_path / "crashed.db")
    assert store_sync(crashed, connector(path, tmp_path, batch_size=3), stop_after=2) == 2
    assert len(stored_ids(crashed)) == 6
    store_sync(crashed, connector(path, tmp_path, batch_size=3))
    assert stored_ids(crashed) == stored_ids(clean)
    assert len(stored_ids(clean)) == 10
    assert clean.counts() == crashed.counts()


def test_rewritten_file_sweeps_deleted_messages_from_the_store(tmp_path):
    from syncd.store import Store

    path = write(tmp_path / "a.mbox", message(1) + message(2) + message(3))
    store = Store.open(tmp_path / "s.db")
    store_sync(store, connector(path, tmp_path))
    write(path, message(2) + message(3))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    store_sync(store, connector(path, tmp_path))
    assert stored_ids(store) == ["mid:m2@example.org", "mid:m3@example.org"]
    before = store.counts()
    assert store_sync(store, connector(path, tmp_path)) == 0  # unchanged: not a single batch
    assert store.counts() == before
