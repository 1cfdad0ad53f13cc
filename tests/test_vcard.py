"""The vcard source: files, folders and globs of contact exports; the per-file cursor (nothing
read when nothing changed), deletions, stable ids, duplicates, ignored and malformed cards;
synced through the real engine into a real store."""

from __future__ import annotations

import logging
import os
import time
from datetime import date
from pathlib import Path

import pytest
from vcard_builders import (
    WRITERS,
    Person,
    android_v21,
    apple_v3,
    google_v3,
    outlook_v21,
    thunderbird_v4,
    vcf_file,
)

from connectors import vcard
from connectors.base import SourceConfig, SourceContext, options_for
from connectors.vcard_format import Card
from syncd.config import load_config
from syncd.errors import SourceError
from syncd.models import Batch, Contact
from syncd.options import validate_table
from syncd.secrets import SecretStore
from syncd.store import Store
from syncd.sync import SyncResult, sync_source

GRACE = Person("Grace", "Hopper", ["grace@navy.example", "grace@cobol.example"], date(1906, 12, 9))
ALAN = Person("Alan", "Turing", ["alan@bletchley.example"], (6, 23), uid="alan-1")
EMILE = Person("Émile", "Zola", ["emile@zola.example"], (4, 2))
NOBODY = Person("Ring", "Doorbell", [])  # a card without an address: a phone number only


def connector(tmp_path: Path, path: Path | str) -> vcard.VcardConnector:
    ctx = SourceContext("cards", tmp_path, SecretStore(tmp_path))
    return vcard.open(SourceConfig("cards", "vcard", {"path": Path(path)}), ctx)


def contacts(batches: list[Batch]) -> list[Contact]:
    return [c for b in batches for c in b.contacts]


def write(path: Path, data: bytes, mtime_ns: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


class Synced:
    """A vcard source synced by the real engine into a real store."""

    def __init__(self, tmp_path: Path, path: Path):
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.tmp_path = tmp_path
        self.config = load_config(self._config(tmp_path, path))
        self.store = Store.open(tmp_path / "s.db")

    @staticmethod
    def _config(tmp_path: Path, path: Path) -> Path:
        conf = tmp_path / "config.toml"
        conf.write_text(
            f'[me]\nemails = ["ada@example.org"]\ntimezone = "UTC"\n'
            f'[store]\npath = "{tmp_path / "s.db"}"\n'
            f'[sources.cards]\ntype = "vcard"\npath = "{path}"\n'
        )
        return conf

    def sync(self) -> SyncResult:
        res = sync_source(self.store, self.config, self.config.sources["cards"])
        assert res.ok, res.error
        return res

    def contacts(self) -> set[tuple[str | None, tuple[str, ...], str | None]]:
        return {
            (c.name, c.emails, c.birthday.isoformat() if c.birthday else None)
            for c in self.store.contacts()
        }


# ------------------------------------------------------------------------------ first read


def test_every_card_with_an_address_is_a_contact_with_a_file_scoped_id(tmp_path):
    f = write(tmp_path / "all.vcf", vcf_file([google_v3(GRACE), thunderbird_v4(ALAN)]))
    batches = list(connector(tmp_path, f).fetch(None))
    grace_id = vcard.card_id(
        Card(None, "Grace Hopper", ("grace@navy.example", "grace@cobol.example"), date(1906, 12, 9))
    )
    assert contacts(batches) == [
        Contact(
            f"{f}#{grace_id}",
            "Grace Hopper",
            ("grace@navy.example", "grace@cobol.example"),
            date(1906, 12, 9),
        ),
        Contact(f"{f}#uid:alan-1", "Alan Turing", ("alan@bletchley.example",), date(1900, 6, 23)),
    ]
    assert grace_id.startswith("sha:")
    last = batches[-1]
    assert last.cursor == {
        "version": 1,
        "files": {
            str(f): {
                "size": f.stat().st_size,
                "mtime_ns": f.stat().st_mtime_ns,
                "sha256": vcard._sha256(f),
                "ids": [grace_id, "uid:alan-1"],
            }
        },
    }
    assert last.progress == (f.stat().st_size, f.stat().st_size)


def test_ids_without_uid_survive_a_re_export_in_another_vcard_version(tmp_path):
    # The same address book exported by Google (3.0), then by Thunderbird (4.0): no UID in
    # either, the same facts, so the same ids: nothing is deleted and added back.
    people = [GRACE, EMILE]
    first = contacts(
        list(
            connector(
                tmp_path, write(tmp_path / "c.vcf", vcf_file([google_v3(p) for p in people]))
            ).fetch(None)
        )
    )
    second = contacts(
        list(
            connector(
                tmp_path, write(tmp_path / "c.vcf", vcf_file([thunderbird_v4(p) for p in people]))
            ).fetch(None)
        )
    )
    assert [c.source_id for c in first] == [c.source_id for c in second]
    assert first == second


def test_two_identical_cards_without_uid_are_both_kept_under_distinct_ids(tmp_path):
    f = write(tmp_path / "c.vcf", vcf_file([google_v3(GRACE), google_v3(EMILE), google_v3(GRACE)]))
    found = contacts(list(connector(tmp_path, f).fetch(None)))
    ids = [c.source_id for c in found]
    assert len(set(ids)) == 3 and ids[2] == ids[0] + "~2"
    assert found[0].emails == found[2].emails


def test_a_uid_written_twice_in_one_file_keeps_both_cards(tmp_path):
    twin = Person("Alan", "Turing", ["alan@kings.example"], uid="alan-1")
    f = write(tmp_path / "c.vcf", vcf_file([thunderbird_v4(ALAN), thunderbird_v4(twin)]))
    found = contacts(list(connector(tmp_path, f).fetch(None)))
    assert [(c.source_id, c.emails) for c in found] == [
        (f"{f}#uid:alan-1", ("alan@bletchley.example",)),
        (f"{f}#uid:alan-1~2", ("alan@kings.example",)),
    ]


def test_a_card_without_an_address_is_counted_as_ignored_not_skipped(tmp_path):
    f = write(tmp_path / "c.vcf", vcf_file([apple_v3(NOBODY), apple_v3(GRACE), apple_v3(NOBODY)]))
    batches = list(connector(tmp_path, f).fetch(None))
    assert [c.name for c in contacts(batches)] == ["Grace Hopper"]
    assert sum(b.ignored.get("no email address", 0) for b in batches) == 2
    assert not any(b.skipped for b in batches)


def test_a_malformed_card_is_a_skip_naming_file_and_card_and_the_rest_goes_on(tmp_path):
    broken = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken\r\nEMAIL;TYPE=INTERNET\r\nEND:VCARD\r\n"
    f = write(tmp_path / "c.vcf", vcf_file([google_v3(GRACE), broken, google_v3(EMILE)]))
    batches = list(connector(tmp_path, f).fetch(None))
    assert [c.name for c in contacts(batches)] == ["Grace Hopper", "Émile Zola"]
    (skip,) = [s for b in batches for s in b.skipped]
    assert skip.where == f"{f}: card 2 (line 11)"
    assert skip.reason == "unreadable vCard: line 14: Failed to parse line: EMAIL;TYPE=INTERNET"


def test_every_writer_in_one_file_with_photos_bom_and_no_final_end(tmp_path):
    people = [
        Person("P", str(i), [f"p{i}@x.example"], (1 + i % 12, 1 + i % 28), photo=True)
        for i in range(len(WRITERS))
    ]
    cards = [w(p) for w, p in zip(WRITERS.values(), people, strict=True)]
    f = write(tmp_path / "c.vcf", vcf_file(cards, bom=True, drop_last_end=True))
    found = contacts(list(connector(tmp_path, f).fetch(None)))
    assert [(c.name, c.emails) for c in found] == [(p.full, tuple(p.emails)) for p in people]
    outlook = list(WRITERS).index("outlook")  # Outlook keeps no birthday without a year
    assert [c.birthday for c in found] == [
        None if i == outlook else date(1900, *p.birthday) for i, p in enumerate(people)
    ]


def test_thousands_of_cards_in_one_file_come_in_batches(tmp_path, caplog):
    writers = list(WRITERS.values())
    people = [
        Person(f"Given{i}", f"Family{i}", [f"p{i}@x.example", f"p{i}@y.example"], photo=i % 10 == 0)
        for i in range(5000)
    ]
    f = write(tmp_path / "big.vcf", vcf_file([writers[i % 5](p) for i, p in enumerate(people)]))
    started = time.perf_counter()
    batches = list(connector(tmp_path, f).fetch(None))
    elapsed = time.perf_counter() - started
    assert [len(b.contacts) for b in batches] == [500] * 10 + [0]
    assert [c.name for c in contacts(batches)] == [p.full for p in people]
    # Every batch carries the cursor, but the file enters it only with its last batch, the
    # one that could delete: a crash in the middle reads the file again.
    assert [b.cursor["files"] for b in batches[:-1]] == [{}] * 10
    assert len(batches[-1].cursor["files"][str(f)]["ids"]) == 5000
    logging.getLogger(__name__).info("5000 cards (%d bytes) in %.2f s", f.stat().st_size, elapsed)


def test_a_folder_of_one_card_files_shares_batches(tmp_path):
    folder = tmp_path / "outlook"
    for i in range(1200):  # Outlook saves one contact per file
        person = Person("Kontakt", f"Nr{i}", [f"k{i}@x.example"])
        write(folder / f"k{i:04d}.vcf", vcf_file([outlook_v21(person)], encoding="cp1252"))
    batches = list(connector(tmp_path, folder).fetch(None))
    assert [len(b.contacts) for b in batches] == [500, 500, 200]
    assert [len(b.cursor["files"]) for b in batches] == [499, 999, 1200]
    assert batches[-1].progress == (batches[-1].progress[1], batches[-1].progress[1])


# ------------------------------------------------------------------------- re-syncs


def test_a_resync_with_nothing_changed_reads_no_file(tmp_path):
    f = write(tmp_path / "c.vcf", vcf_file([google_v3(GRACE), thunderbird_v4(ALAN)]))
    s = Synced(tmp_path, f)
    assert s.sync().contacts == 2
    before = s.contacts()
    # Same size, same mtime, other bytes: if the connector read the file it would find no
    # card (a skip) or other contacts. It must only stat it.
    st = f.stat()
    write(f, b"x" * st.st_size, mtime_ns=st.st_mtime_ns)
    res = s.sync()
    assert (res.batches, res.contacts, res.skipped, res.deleted) == (0, 0, 0, 0)
    assert s.contacts() == before


def test_a_touched_file_with_the_same_content_only_moves_the_cursor(tmp_path):
    f = write(tmp_path / "c.vcf", vcf_file([google_v3(GRACE)]), mtime_ns=1_000_000_000)
    conn = connector(tmp_path, f)
    cursor = list(conn.fetch(None))[-1].cursor
    os.utime(f, ns=(2_000_000_000, 2_000_000_000))
    batches = list(conn.fetch(cursor))
    assert [(b.contacts, b.contact_deletions) for b in batches] == [([], [])]
    assert batches[0].cursor["files"][str(f)] == {
        **cursor["files"][str(f)],
        "mtime_ns": 2_000_000_000,
    }


def test_a_changed_file_is_read_again_and_its_vanished_contacts_are_deleted(tmp_path):
    f = write(
        tmp_path / "c.vcf", vcf_file([google_v3(GRACE), thunderbird_v4(ALAN), google_v3(EMILE)])
    )
    s = Synced(tmp_path, f)
    s.sync()
    grace_moved = Person("Grace", "Hopper", ["grace@navy.example"], date(1906, 12, 9))
    write(f, vcf_file([google_v3(grace_moved), thunderbird_v4(ALAN)]))
    res = s.sync()
    assert res.contacts == 1  # Grace changed; Alan, read again as stored, is no news
    assert s.contacts() == {
        ("Grace Hopper", ("grace@navy.example",), "1906-12-09"),
        ("Alan Turing", ("alan@bletchley.example",), "1900-06-23"),
    }


def test_a_sync_stopped_after_any_batch_ends_like_an_uninterrupted_one(tmp_path):
    people = [Person("P", str(i), [f"p{i}@x.example"], uid=f"u{i}") for i in range(1300)]
    f = write(tmp_path / "c.vcf", vcf_file([thunderbird_v4(p) for p in people]))
    clean, stopped = Synced(tmp_path / "clean", f), Synced(tmp_path / "stopped", f)
    clean.sync()
    for n in (1, 2):  # stop after the first, then after the second batch, then finish
        calls = iter(range(n, 0, -1))
        sync_source(
            stopped.store,
            stopped.config,
            stopped.config.sources["cards"],
            should_stop=lambda calls=calls: next(calls, 0) == 1,
        )
    assert stopped.sync().ok and stopped.contacts() == clean.contacts()
    # An edit (300 cards gone, 100 new), again stopped after one batch, then finished.
    people = people[300:] + [Person("N", str(i), [f"n{i}@x.example"]) for i in range(100)]
    write(f, vcf_file([thunderbird_v4(p) for p in people]))
    clean.sync()
    sync_source(
        stopped.store, stopped.config, stopped.config.sources["cards"], should_stop=lambda: True
    )
    stopped.sync()
    assert stopped.contacts() == clean.contacts()
    assert len(clean.contacts()) == 1100


def test_a_file_that_leaves_the_folder_deletes_its_contacts_and_the_others_stay(tmp_path):
    folder = tmp_path / "contacts"
    write(folder / "phone.vcf", vcf_file([android_v21(EMILE)]))
    gone = write(folder / "sub" / "outlook.VCF", vcf_file([outlook_v21(GRACE)], encoding="cp1252"))
    write(
        folder / "notes.txt", b"BEGIN:VCARD\r\nFN:Not a vcf\r\nEMAIL:n@x.example\r\nEND:VCARD\r\n"
    )
    write(folder / "._phone.vcf", b"\x00\x05\x16\x07 Mac OS X resource fork")
    s = Synced(tmp_path, folder)
    assert s.sync().skipped == 0
    assert {c[0] for c in s.contacts()} == {"Émile Zola", "Grace Hopper"}
    gone.unlink()
    s.sync()
    assert s.contacts() == {("Émile Zola", ("emile@zola.example",), "1900-04-02")}


def test_removing_one_of_two_identical_cards_deletes_only_the_second(tmp_path):
    f = write(tmp_path / "c.vcf", vcf_file([google_v3(GRACE), google_v3(GRACE)]))
    conn = connector(tmp_path, f)
    first = list(conn.fetch(None))
    write(f, vcf_file([google_v3(GRACE)]))
    second = list(conn.fetch(first[-1].cursor))
    (kept,) = contacts(second)
    assert second[-1].contact_deletions == [contacts(first)[1].source_id]
    assert kept.source_id == contacts(first)[0].source_id


def test_a_card_broken_by_an_edit_keeps_the_contact_of_its_uid(tmp_path):
    f = write(tmp_path / "c.vcf", vcf_file([thunderbird_v4(ALAN), google_v3(EMILE)]))
    conn = connector(tmp_path, f)
    cursor = list(conn.fetch(None))[-1].cursor
    broken = thunderbird_v4(ALAN).replace("EMAIL;PREF=1:", 'EMAIL;PREF=1;TYPE="work:')
    write(f, vcf_file([broken]))
    batches = list(conn.fetch(cursor))
    assert [s.where for b in batches for s in b.skipped] == [f"{f}: card 1 (line 1)"]
    # Émile's card is gone: deleted. Alan's is still there, only unreadable: it stays.
    alan_id, emile_id = cursor["files"][str(f)]["ids"]
    assert alan_id == "uid:alan-1"
    assert [d for b in batches for d in b.contact_deletions] == [f"{f}#{emile_id}"]
    assert batches[-1].cursor["files"][str(f)]["ids"] == [alan_id]


def test_a_file_with_no_card_is_a_skip_and_keeps_its_contacts(tmp_path):
    f = write(tmp_path / "c.vcf", vcf_file([google_v3(GRACE)]))
    s = Synced(tmp_path, f)
    s.sync()
    write(f, b"")  # caught while the phone rewrites it
    res = s.sync()
    assert (res.skipped, res.deleted) == (1, 0)
    assert res.skipped_samples == [f"{f.resolve()}: no vCard in the file (no BEGIN:VCARD line)"]
    assert {c[0] for c in s.contacts()} == {"Grace Hopper"}
    write(f, vcf_file([google_v3(EMILE)]))
    s.sync()
    assert {c[0] for c in s.contacts()} == {"Émile Zola"}


def test_a_glob_selects_files_and_a_file_leaving_it_deletes_its_contacts(tmp_path):
    a = write(tmp_path / "a.vcf", vcf_file([google_v3(GRACE)]))
    write(tmp_path / "b.vcf", vcf_file([google_v3(EMILE)]))
    write(tmp_path / "c.txt", vcf_file([google_v3(NOBODY)]))
    conn = connector(tmp_path, tmp_path / "*.vcf")
    assert conn.files() == [a, tmp_path / "b.vcf"]
    cursor = list(conn.fetch(None))[-1].cursor
    a.rename(tmp_path / "a.vcf.bak")
    (batch,) = list(conn.fetch(cursor))
    assert batch.contact_deletions == [f"{a}#{cursor['files'][str(a)]['ids'][0]}"]
    assert list(batch.cursor["files"]) == [str(tmp_path / "b.vcf")]


@pytest.mark.parametrize("name", ["missing.vcf", "empty-folder", "*.nothing"])
def test_a_path_that_names_no_file_is_a_source_error_never_a_deletion(tmp_path, name):
    (tmp_path / "empty-folder").mkdir()
    with pytest.raises(SourceError, match="cards"):
        list(connector(tmp_path, tmp_path / name).fetch(None))


def test_a_stale_cursor_version_reads_everything_again(tmp_path):
    f = write(tmp_path / "c.vcf", vcf_file([google_v3(GRACE)]))
    batches = list(connector(tmp_path, f).fetch({"version": 0, "files": {str(f): {}}}))
    assert [c.name for c in contacts(batches)] == ["Grace Hopper"]


# ---------------------------------------------------------------------- config and output


def test_options_validate_through_the_shared_spec():
    problems: list[str] = []
    values = validate_table(
        {"type": "vcard", "path": "~/Contacts/*.vcf"}, options_for("vcard"), "[sources.c]", problems
    )
    assert problems == []
    assert values["path"] == Path("~/Contacts/*.vcf").expanduser()
    validate_table({"type": "vcard"}, options_for("vcard"), "[sources.c]", problems)
    assert problems == ["[sources.c]: missing required key 'path'"]


def test_sync_output_counts_contacts_skips_and_ignored_cards(syncd):
    broken = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Broken\r\nEMAIL;TYPE=INTERNET\r\nEND:VCARD\r\n"
    f = write(syncd.root / "c.vcf", vcf_file([apple_v3(GRACE), apple_v3(NOBODY), broken]))
    syncd.write_config({"cards": {"type": "vcard", "path": str(f)}})
    out = syncd.run("sync").stderr + syncd.run("sync").stderr
    lines = [line for line in out.splitlines() if line.startswith("cards:")]
    assert lines[0] == (
        "cards: 0 new, 0 changed, 0 removed, 1 contacts, 1 ignored (no email address), "
        "1 skipped (unparseable; see `syncd status`)"
    )
    assert lines[1] == "cards: 0 new, 0 changed, 0 removed"
    line = 1 + (apple_v3(GRACE) + apple_v3(NOBODY)).count("\n")
    assert (
        f"    skipped {f}: card 3 (line {line}): unreadable vCard: line {line + 3}: "
        "Failed to parse line: EMAIL;TYPE=INTERNET\n"
    ) in out
