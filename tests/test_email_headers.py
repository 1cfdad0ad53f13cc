"""connectors.email_headers: header facts -> Interaction, on hand-made header blocks."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesHeaderParser

import pytest

from connectors.email_headers import (
    HEADER_FIELDS,
    HeaderError,
    flags_from_gmail_labels,
    header_pairs,
    interaction_from_headers,
)
from syncd.models import Flag, Interaction, Participant


def parse(block: bytes | str, parser_policy: policy.Policy = policy.compat32):
    data = block.encode() if isinstance(block, str) else block
    return BytesHeaderParser(policy=parser_policy).parsebytes(data)


BASIC = (
    "From: Ada Lovelace <Ada@Example.ORG>\n"
    "To: Charles Babbage <charles@example.com>, mary@example.net\n"
    "Date: Tue, 5 Aug 2008 01:00:12 -0700\n"
    "Message-ID: <abc@example.org>\n"
    "In-Reply-To: <parent@example.com> (Charles's message)\n"
    "References: <root@example.com>\n    <parent@example.com>\n"
    "Subject: =?utf-8?q?Re=3A_the_Lisbon_conference?=\n"
)


def test_basic_message_becomes_a_whole_interaction():
    assert interaction_from_headers(parse(BASIC), scope="INBOX") == Interaction(
        source_id="mid:abc@example.org",
        kind="email",
        occurred_at=datetime(2008, 8, 5, 8, 0, 12, tzinfo=UTC),
        participants=(
            Participant("ada@example.org", "from", "Ada Lovelace"),
            Participant("charles@example.com", "to", "Charles Babbage"),
            Participant("mary@example.net", "to", None),
        ),
        subject="Re: the Lisbon conference",
        thread_id="root@example.com",
        message_id="abc@example.org",
        in_reply_to="parent@example.com",
        flags=0,
        head_count=2,
        scope="INBOX",
    )


@pytest.mark.parametrize("parser_policy", [policy.compat32, policy.default])
def test_message_and_pairs_give_the_same_interaction(parser_policy):
    msg = parse(BASIC, parser_policy)
    pairs = header_pairs(BASIC.encode())
    assert interaction_from_headers(msg) == interaction_from_headers(pairs)


def test_every_cc_header_counts_and_head_count_is_distinct_recipients():
    it = interaction_from_headers(
        [
            ("From", "alice@example.org"),
            ("To", "Daniel <daniel@example.org>"),
            ("Cc", "Bob <bob@example.org>"),
            ("cc", "Charles <charles@example.org>, BOB@example.org"),
            ("Bcc", "daniel@example.org"),
            ("Date", "Fri, 17 Jun 2016 11:14:41 +0900"),
        ]
    )
    assert [(p.address, p.role) for p in it.participants] == [
        ("alice@example.org", "from"),
        ("daniel@example.org", "to"),
        ("bob@example.org", "cc"),
        ("charles@example.org", "cc"),
        ("daniel@example.org", "bcc"),
    ]
    assert it.head_count == 3


def test_group_syntax_comments_and_junk():
    it = interaction_from_headers(
        [
            ("From", "barry@python.org (Barry A. Warsaw)"),
            ("To", "undisclosed-recipients:;"),
            ("Cc", 'team: "Smith, J" <j.smith@example.com>, x@example.com;, not-an-address'),
            ("Bcc", "alice@example.com <bob@example.com>, <>, @, foo@"),
            ("Date", "Tue, 11 Sep 2001 00:05:05 -0400"),
        ]
    )
    assert [(p.address, p.role, p.name) for p in it.participants] == [
        ("barry@python.org", "from", "Barry A. Warsaw"),
        ("j.smith@example.com", "cc", "Smith, J"),
        ("x@example.com", "cc", None),
        # an address used as a display name is a name, not a second recipient
        ("bob@example.com", "bcc", "alice@example.com"),
    ]
    assert it.head_count == 3


def test_encoded_and_raw_8bit_names_are_decoded_without_crashing():
    block = (
        b"From: =?iso-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>\n"
        b"To: \xe7\xbd\x97 <luo@example.net>, \xd0\xae\xff <yu@example.ru>, \xb4bad@example.com\n"
        b"Cc: =?UTF-8?B?TGFzdCwgRmlyc3Q=?= <lf@example.com>, =?x-unknown?q?Odd?= <o@example.com>\n"
        b"Subject: =?utf-8?b?5pel5pys6Kqe?= \xff\n"
        b"Date: Tue, 5 Aug 2008 01:00:12 -0700\n"
    )
    it = interaction_from_headers(parse(block))
    names = {p.address: p.name for p in it.participants}
    assert names["keld@dkuug.dk"] == "Keld Jørn Simonsen"
    assert names["luo@example.net"] == "罗"
    assert names["yu@example.ru"] == "Ю\ufffd"
    assert names["lf@example.com"] == "Last, First"
    assert names["o@example.com"]  # unknown charset: something readable, no exception
    assert "\ufffdbad@example.com" not in names  # unreadable address bytes: dropped
    assert it.subject is not None and it.subject.startswith("日本語")


def test_huge_subject_is_truncated():
    words = " ".join(["=?utf-8?q?Die_hei=C3=9Fe_Zypernsonne?="] * 20_000)
    it = interaction_from_headers([("Subject", words), ("Date", "Mon, 1 Jan 2024 10:00:00 +0000")])
    assert it.subject is not None and 0 < len(it.subject) <= 300
    assert it.subject.startswith("Die heiße Zypernsonne")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 5 Aug 2008 01:00:12 -0700", datetime(2008, 8, 5, 8, 0, 12, tzinfo=UTC)),
        ("Tue, 5 Aug 2008 01:00:12", datetime(2008, 8, 5, 1, 0, 12, tzinfo=UTC)),  # naive: UTC
        ("Tue, 5 Aug 2008 01:00:12 -0000", datetime(2008, 8, 5, 1, 0, 12, tzinfo=UTC)),
        ("Wed, 20 Sep 1995 00:19:00 (EDT) -0400", datetime(1995, 9, 20, 4, 19, tzinfo=UTC)),
    ],
)
def test_dates_are_stored_in_utc(value, expected):
    it = interaction_from_headers([("Date", value)])
    assert it.occurred_at == expected
    assert it.occurred_at.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "value",
    [None, "", "Tue, 06 Jun 2017 27:39:33 +0600", "Thu Jan 01 00:00:10 +0000", "yesterday"],
)
def test_missing_or_impossible_date_is_a_header_error(value):
    headers = [("From", "a@example.org")] + ([("Date", value)] if value is not None else [])
    with pytest.raises(HeaderError) as info:
        interaction_from_headers(headers)
    assert isinstance(info.value, ValueError)
    assert info.value.reason


DATE = ("Date", "Mon, 1 Jan 2024 10:00:00 +0000")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([("List-Id", "Dev <dev.lists.example.org>")], Flag.LIST),
        ([("List-Unsubscribe", "<mailto:leave@example.org>")], Flag.BULK),
        ([("Precedence", "Bulk")], Flag.BULK),
        ([("Precedence", "junk")], Flag.BULK),
        ([("Precedence", "first-class")], 0),
        ([("Auto-Submitted", "no")], 0),
        ([("Auto-Submitted", "auto-generated")], Flag.AUTOMATED),
        ([("Auto-Submitted", "auto-replied; owner-email=x@y.z")], Flag.AUTOMATED | Flag.AUTO_REPLY),
        ([("X-Autoreply", "yes")], Flag.AUTOMATED | Flag.AUTO_REPLY),
        ([("X-Autorespond", "on")], Flag.AUTOMATED | Flag.AUTO_REPLY),
        ([("Return-Path", "<>")], Flag.AUTOMATED),
        ([("Return-Path", "<bounce@example.org>")], 0),
        ([("Content-Type", 'multipart/report; report-type="delivery-status"')], Flag.AUTOMATED),
        ([("Content-Type", "multipart/mixed; boundary=x")], 0),
        (
            [("Auto-Submitted", "auto-generated"), ("X-Syncd-Digest", "2024-W01")],
            Flag.AUTOMATED | Flag.DIGEST,
        ),
        ([("X-Gmail-Labels", "Inbox,Sent,Important")], Flag.SENT),
        ([("X-Gmail-Labels", "Spam")], Flag.SPAM),
        (
            [("X-Gmail-Labels", 'Trash,"Category Promotions",\n Drafts')],
            Flag.TRASH | Flag.CATEGORY | Flag.DRAFT,
        ),
        ([("X-Gmail-Labels", "Chat,Unread")], Flag.CHAT),
    ],
)
def test_flags_from_headers(headers, expected):
    assert interaction_from_headers([*headers, DATE]).flags == expected


def test_caller_flags_are_kept():
    it = interaction_from_headers([DATE, ("List-Id", "x")], flags=Flag.SENT)
    assert it.flags == Flag.SENT | Flag.LIST


def test_gmail_labels_from_api_ids_and_takeout_strings():
    assert (
        flags_from_gmail_labels(["SENT", "CATEGORY_SOCIAL", "INBOX"]) == Flag.SENT | Flag.CATEGORY
    )
    assert flags_from_gmail_labels('"My, label",Category Updates,Opened') == Flag.CATEGORY
    assert flags_from_gmail_labels("Draft") == Flag.DRAFT
    assert flags_from_gmail_labels([]) == 0


def test_thread_id_prefers_gmail_thread_then_references_then_reply_then_own_id():
    base = [DATE, ("Message-ID", "<own@x>")]
    assert interaction_from_headers(base).thread_id == "own@x"
    assert interaction_from_headers([*base, ("In-Reply-To", "<p@x>")]).thread_id == "p@x"
    refs = [*base, ("In-Reply-To", "<p@x>"), ("References", "<r1@x> <p@x>")]
    assert interaction_from_headers(refs).thread_id == "r1@x"
    gm = [*refs, ("X-GM-THRID", "1278204036336346264")]
    assert interaction_from_headers(gm).thread_id == "1278204036336346264"


def test_source_id_without_message_id_is_a_stable_hash_of_the_headers():
    a = [("From", "a@x.org"), DATE, ("Subject", "hi")]
    first = interaction_from_headers(a).source_id
    assert first.startswith("h:") and len(first) == 2 + 40
    assert interaction_from_headers(list(a)).source_id == first
    assert interaction_from_headers([*a, ("To", "b@x.org")]).source_id != first
    assert interaction_from_headers(a, source_id="uid:7").source_id == "uid:7"


def test_header_pairs_unfolds_and_keeps_only_the_needed_fields():
    block = (
        b"Received: from x\r\n\tby y\r\n"
        b"TO: A <a@x.org>,\r\n\tB <b@x.org>\r\n"
        b"X-Other: 1\r\n continued\r\n"
        b"not a header line\r\n"
        b"subject:  caf\xc3\xa9 \r\n"
    )
    assert header_pairs(block) == [
        ("To", "A <a@x.org>,\tB <b@x.org>"),
        ("Subject", "caf\udcc3\udca9"),
    ]


def test_header_fields_cover_what_the_rules_read():
    wanted = {h.lower() for h in HEADER_FIELDS}
    assert {"from", "to", "cc", "bcc", "date", "list-id", "auto-submitted"} <= wanted
    assert {"x-gmail-labels", "x-gm-thrid", "return-path", "content-type"} <= wanted
