"""Every file of ../shared/corpus/mail through our parsers: nothing crashes, everything is counted.

mbox files go through the mbox connector; single messages and Maildir files through
interaction_from_headers after a headers-only parse. Known tricky files (SOURCES.md, "Tricky
cases") are spot-checked.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import corpus
import pytest

import connectors.mbox as mbox
from connectors.email_headers import HeaderError, header_pairs, interaction_from_headers
from syncd.models import Flag, Interaction

CORPUS = corpus.CORPUS / "mail"
pytestmark = corpus.needs_corpus("mail")

NOT_MESSAGES = {"SOURCES.md", "README.corpora"}
ADDRESS_LISTS = "flanker/address-lists"


def is_mbox(path: Path) -> bool:
    return path.name.endswith((".mbox", ".mbox.txt"))


def corpus_files() -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.rglob("*") if p.is_file())


def rel(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def header_block(data: bytes) -> bytes:
    m = re.search(rb"\r?\n\r?\n", data)
    return data[: m.start() + 1] if m else data


def parse_single(path: Path) -> Interaction | HeaderError:
    with path.open("rb") as f:
        msg = BytesHeaderParser(policy=policy.compat32).parse(f)
    try:
        return interaction_from_headers(msg, scope=rel(path))
    except HeaderError as e:
        return e


def parse_mbox(path: Path, tmp_path: Path) -> tuple[list[Interaction], list[Any], int]:
    conn = mbox.MboxConnector(str(path), batch_size=5)
    upserts: list[Interaction] = []
    skipped: list[Any] = []
    for batch in conn.fetch(None):
        upserts += batch.upserts
        skipped += batch.skipped
    with path.open("rb") as f:
        seen = sum(1 for _ in mbox.scan(f, 0, path.stat().st_size))
    return upserts, skipped, seen


@pytest.fixture(scope="module")
def singles() -> dict[str, Interaction | HeaderError]:
    return {
        rel(p): parse_single(p)
        for p in corpus_files()
        if not is_mbox(p) and p.name not in NOT_MESSAGES and ADDRESS_LISTS not in rel(p)
    }


@pytest.fixture(scope="module")
def mboxes(tmp_path_factory) -> dict[str, tuple[list[Interaction], list[Any], int]]:
    tmp = tmp_path_factory.mktemp("mbox")
    return {rel(p): parse_mbox(p, tmp) for p in corpus_files() if is_mbox(p)}


def test_every_file_is_accounted_for(singles, mboxes):
    lists = [p for p in corpus_files() if ADDRESS_LISTS in rel(p)]
    others = [p for p in corpus_files() if p.name in NOT_MESSAGES]
    assert len(singles) + len(mboxes) + len(lists) + len(others) == len(corpus_files())
    assert len(mboxes) == 6
    assert len(singles) > 350


def test_single_messages_parse_or_are_counted_as_skipped(singles):
    parsed = [v for v in singles.values() if isinstance(v, Interaction)]
    skipped = Counter(
        v.reason.split(" ", 2)[0:2][-1] for v in singles.values() if isinstance(v, HeaderError)
    )
    assert len(parsed) + sum(skipped.values()) == len(singles)
    # SOURCES.md: 24 messages without Date (some inside mbox files), 5 unparseable Dates.
    assert 0 < sum(skipped.values()) < 30
    for it in parsed:
        assert it.occurred_at.tzinfo is not None and it.occurred_at.utcoffset().total_seconds() == 0
        assert all(
            p.address == p.address.strip().lower() and "@" in p.address for p in it.participants
        )
        assert it.subject is None or len(it.subject) <= 300
        assert it.head_count == len({p.address for p in it.participants if p.role != "from"})


def test_mbox_files_add_up(mboxes):
    for name, (upserts, skipped, seen) in mboxes.items():
        assert len(upserts) + len(skipped) == seen, name
    counts = {name: (len(u), len(s)) for name, (u, s, _) in mboxes.items()}
    assert counts == {
        "cpython-test_email/mailbox_01.mbox": (0, 1),  # the "From time to time" line is body
        "gmail-takeout/small.gmail.mbox": (3, 3),
        "mimekit/mbox/content-length.mbox.txt": (29, 0),
        "mimekit/mbox/issue1189.mbox.txt": (4, 0),
        "mimekit/mbox/simple.mbox.txt": (3, 0),
        "mimekit/mbox/unmunged.mbox.txt": (0, 2),  # "From Russia with love" is body
    }


def test_the_header_pairs_path_agrees_with_the_email_parser(singles):
    """The mbox connector's fast field splitter and the email package read the same facts."""
    for name, expected in singles.items():
        data = (CORPUS / name).read_bytes()
        try:
            got: Interaction | HeaderError = interaction_from_headers(
                header_pairs(header_block(data)), scope=name
            )
        except HeaderError as e:
            got = e
        if data.startswith(b"\xef\xbb\xbf"):
            # The email package stops at a BOM before the first header; we read past it.
            assert isinstance(got, Interaction), name
            continue
        if isinstance(expected, HeaderError):
            assert isinstance(got, HeaderError), name
            continue
        assert isinstance(got, Interaction), name
        ignore = {"source_id": None}  # h: hashes cover different header sets
        assert dataclasses.replace(got, **ignore) == dataclasses.replace(expected, **ignore), name


def test_takeout_mbox_spot_checks(mboxes):
    upserts, skipped, _ = mboxes["gmail-takeout/small.gmail.mbox"]
    first = upserts[0]
    assert first.participants[0].name == "Keld Jørn Simonsen"
    assert first.thread_id == "1277085061787347926"
    assert first.flags & Flag.BULK
    assert upserts[1].flags & Flag.LIST
    assert [s.reason for s in skipped] == [
        "chat entry without Date",
        "chat entry without Date",
        "no Date header",
    ]


def test_tricky_single_messages(singles):
    def get(name: str) -> Interaction:
        value = singles[name]
        assert isinstance(value, Interaction), (name, value)
        return value

    assert isinstance(singles["cpython-test_email/msg_47.txt"], HeaderError)  # hour 27
    assert isinstance(singles["notmuch/attachment/text-calendar.eml"], HeaderError)  # no year

    notif = get("flanker/messages/disposition-notification.eml")
    assert notif.occurred_at == datetime(1995, 9, 20, 4, 19, tzinfo=UTC)
    assert notif.flags & Flag.AUTOMATED

    cc = [p.address for p in get("notmuch/broken/broken-cc").participants if p.role == "cc"]
    assert cc == ["bob@example.org", "charles@example.org"]

    for bounce in ("office365.eml", "mailbox-full.eml", "zed.eml"):
        assert get(f"flanker/messages/bounce/{bounce}").flags & Flag.AUTOMATED, bounce
    assert get("flanker/messages/bounce/office365.eml").flags & Flag.AUTO_REPLY
    for arf in ("flanker/messages/complaints/aol.eml", "flanker/messages/complaints/yahoo.eml"):
        assert get(arf).flags & Flag.AUTOMATED, arf
    # This ARF report starts with a BOM, which stops the email package before any header;
    # the mbox connector's field splitter reads past it.
    bom = (CORPUS / "mimekit/messages/feedback-report.txt").read_bytes()
    assert interaction_from_headers(header_pairs(header_block(bom))).flags & Flag.AUTOMATED

    assert len(get("flanker/messages/long-header.eml").subject or "") == 300
    assert get("flanker/messages/mailformed-headers.eml").participants[0].address == (
        "headers@gmail.com"
    )
    assert (
        get("mimekit/messages/japanese.txt").subject
        == "日本語メールテスト (testing Japanese emails)"
    )
    assert get("cpython-test_email/msg_44.txt").participants[0].name == "Barry A. Warsaw"

    comma = get("mail-parser/full/mail_test_18.eml").participants[0]
    assert (comma.address, comma.name) == ("comma.name@example.com", "LastßlName, FirstName")
    spoof = [p for p in get("mail-parser/full/mail_test_19.eml").participants if p.role == "from"]
    assert [(p.address, p.name) for p in spoof] == [("bob@example.com", "alice@example.com")]


def test_duplicate_message_ids_share_a_source_id(singles):
    ids = Counter(
        v.source_id
        for k, v in singles.items()
        if k.startswith("notmuch/duplicate/") and isinstance(v, Interaction)
    )
    assert ids and max(ids.values()) > 1


def test_group_syntax_recipients_leave_no_empty_addresses(singles):
    grouped = [
        name
        for name in singles
        if re.search(rb"^(To|Cc):[^\n]*:;", header_block((CORPUS / name).read_bytes()), re.M | re.I)
    ]
    assert grouped
    for name in grouped:
        value = singles[name]
        if isinstance(value, Interaction):
            assert all(p.address for p in value.participants), name


def test_address_list_fixtures_never_crash_the_parser():
    valid = (CORPUS / ADDRESS_LISTS / "mailbox_valid.txt").read_text("utf-8", "replace")
    lines = [ln for ln in valid.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(lines) > 100
    for line in lines:
        it = interaction_from_headers([("To", line), ("Date", "Mon, 1 Jan 2024 10:00:00 +0000")])
        assert len(it.participants) == 1, line
    for path in (CORPUS / ADDRESS_LISTS).glob("*invalid*"):
        for line in path.read_text("utf-8", "replace").splitlines():
            interaction_from_headers([("To", line), ("Date", "Mon, 1 Jan 2024 10:00:00 +0000")])
