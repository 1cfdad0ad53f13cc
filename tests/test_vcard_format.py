"""Reading vCards (connectors/vcard_format.py, shared by the vcard source and CardDAV): the
exports of Apple, Google, Android, Outlook and Thunderbird (tests/vcard_builders.py), their
encodings, and the ways real files are broken."""

from __future__ import annotations

from datetime import date

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

from connectors.vcard_format import (
    Card,
    CardError,
    RawCard,
    lines_of,
    parse_birthday,
    parse_card,
    split_cards,
)

GRACE = Person(
    "Grace",
    "Hopper",
    ["Grace@Navy.Example", "grace.hopper@cobol.example", "gh@home.example"],
    birthday=date(1906, 12, 9),
    photo=True,
    org="US Navy",
)
EMILE = Person("Émile", "Zola", ["emile@zola.example"], birthday=(4, 2), photo=True)


def cards(data: bytes) -> list[Card | str]:
    """Each card of a file: its facts, or the CardError's message."""
    out: list[Card | str] = []
    for raw in split_cards(lines_of(data)):
        try:
            out.append(parse_card(raw))
        except CardError as e:
            out.append(str(e))
    return out


def card(text: str) -> Card | str:
    (only,) = cards(text.encode())
    return only


def v3(*lines: str) -> str:
    return "BEGIN:VCARD\r\nVERSION:3.0\r\n" + "".join(f"{x}\r\n" for x in lines) + "END:VCARD\r\n"


# -------------------------------------------------------------------------- the generators


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_every_generator_gives_name_all_addresses_and_birthday(writer):
    assert cards(vcf_file([WRITERS[writer](GRACE)])) == [
        Card(
            uid=None,
            name="Grace Hopper",
            emails=("grace@navy.example", "grace.hopper@cobol.example", "gh@home.example"),
            birthday=date(1906, 12, 9),
        )
    ]


@pytest.mark.parametrize("writer", ["apple", "google", "android", "thunderbird"])
def test_every_generator_writes_a_year_less_birthday_that_reads_as_year_1900(writer):
    # Apple: BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-02, Google and Android: --04-02,
    # Thunderbird (vCard 4): --0402.
    (found,) = cards(vcf_file([WRITERS[writer](EMILE)]))
    assert found == Card(None, "Émile Zola", ("emile@zola.example",), date(1900, 4, 2))


def test_outlook_windows_1252_file_reads_accented_names():
    data = vcf_file([outlook_v21(Person("Jürgen", "Müller", ["j@m.example"]))], encoding="cp1252")
    assert b"M\xfcller" in data
    assert cards(data) == [Card(None, "Jürgen Müller", ("j@m.example",), None)]


def test_android_quoted_printable_names_with_soft_line_breaks():
    long = Person("Marie-Françoise Élisabeth", "de Saint-Exupéry-Übel", ["m@f.example"])
    text = android_v21(long)
    assert "=\r\n=" in text  # a soft line break, the next line not indented
    assert cards(text.encode("ascii")) == [
        Card(None, "Marie-Françoise Élisabeth de Saint-Exupéry-Übel", ("m@f.example",), None)
    ]


def test_apple_groups_and_x_abuid_stand_for_the_uid():
    found = cards(vcf_file([apple_v3(Person("A", "B", ["a@b.example"], uid="5F3C-11"))]))
    assert found == [Card("5F3C-11:ABPerson", "A B", ("a@b.example",), None)]


def test_uid_wins_over_x_abuid():
    assert card(v3("FN:A", "X-ABUID:abc:ABPerson", "UID:u-1", "EMAIL:a@b.example")) == Card(
        "u-1", "A", ("a@b.example",), None
    )


# ------------------------------------------------------------------------------- encodings


@pytest.mark.parametrize(
    ("encoding", "bom"), [("utf-8", True), ("utf-16-le", True), ("utf-16-le", False)]
)
def test_byte_order_marks_and_utf16_read_like_plain_utf8(encoding, bom):
    data = vcf_file([google_v3(EMILE), thunderbird_v4(GRACE)], encoding=encoding, bom=bom)
    assert cards(data) == cards(vcf_file([google_v3(EMILE), thunderbird_v4(GRACE)]))
    assert [c.name for c in cards(data) if isinstance(c, Card)] == ["Émile Zola", "Grace Hopper"]


def test_one_latin1_line_does_not_garble_the_utf8_lines_around_it():
    data = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Zoë Ødegård\r\nEMAIL:z@o.example\r\nEND:VCARD\r\n"
    ).encode() + b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ren\xe9\r\nEMAIL:r@e.example\r\nEND:VCARD\r\n"
    assert [c.name for c in cards(data) if isinstance(c, Card)] == ["Zoë Ødegård", "René"]


def test_a_line_folded_inside_a_utf8_character_is_joined_before_decoding():
    e_acute = "é".encode()
    data = b"BEGIN:VCARD\r\nFN:Jos" + e_acute[:1] + b"\r\n " + e_acute[1:] + b" Saramago\r\n"
    data += b"EMAIL:j@s.example\r\nEND:VCARD\r\n"
    assert cards(data) == [Card(None, "José Saramago", ("j@s.example",), None)]


def test_lf_only_line_ends_read_like_crlf():
    assert cards(vcf_file([apple_v3(GRACE)], newline="\n")) == cards(vcf_file([apple_v3(GRACE)]))


# ------------------------------------------------------------------------ broken structure


def test_missing_end_vcard_at_the_end_of_the_file_still_reads_the_last_card():
    data = vcf_file([google_v3(GRACE), google_v3(EMILE)], drop_last_end=True)
    raws = list(split_cards(lines_of(data)))
    assert [(r.number, r.complete) for r in raws] == [(1, True), (2, False)]
    assert [c.name for c in cards(data) if isinstance(c, Card)] == ["Grace Hopper", "Émile Zola"]


def test_missing_end_vcard_in_the_middle_ends_the_card_at_the_next_begin():
    text = "BEGIN:VCARD\r\nFN:A\r\nEMAIL:a@x.example\r\n" + v3("FN:B", "EMAIL:b@x.example")
    assert [c.emails for c in cards(text.encode()) if isinstance(c, Card)] == [
        ("a@x.example",),
        ("b@x.example",),
    ]


def test_an_agent_card_stays_out_of_its_host_and_is_no_card_of_its_own():
    text = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Boss\r\nEMAIL:boss@x.example\r\nAGENT:\r\n"
        "BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Assistant\r\nEMAIL:pa@x.example\r\nEND:VCARD\r\n"
        "TEL:+1 555 0100\r\nEND:VCARD\r\n" + v3("FN:Next", "EMAIL:next@x.example")
    )
    assert cards(text.encode()) == [
        Card(None, "Boss", ("boss@x.example",), None),
        Card(None, "Next", ("next@x.example",), None),
    ]


def test_text_outside_cards_is_ignored_and_cards_are_numbered_with_their_line():
    text = "garbage before\r\n\r\n" + v3("FN:A", "EMAIL:a@x.example") + "trailer\r\n"
    text += v3("FN:B", "EMAIL:b@x.example")
    raws = list(split_cards(lines_of(text.encode())))
    assert [(r.number, r.line, r.where()) for r in raws] == [
        (1, 3, "card 1 (line 3)"),
        (2, 9, "card 2 (line 9)"),
    ]


@pytest.mark.parametrize(
    "photo",
    [
        "PHOTO;ENCODING=b;TYPE=JPEG:!!!not base64!!!",  # vCard 3 with a broken photo
        "PHOTO;ENCODING=BASE64;JPEG:/9j/4AAQ\r\nSkZJRgABAQAAAQABAAD\r\n",  # unindented 2.1 base64
        "X-BROKEN-LINE-WITHOUT-A-COLON",
        'TEL;TYPE="unterminated:+1 555',
    ],
)
def test_broken_properties_syncd_does_not_read_cost_no_contact(photo):
    assert card(v3("FN:Grace", photo, "EMAIL:g@navy.example")) == Card(
        None, "Grace", ("g@navy.example",), None
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("EMAIL;TYPE=INTERNET", "Failed to parse line: EMAIL;TYPE=INTERNET"),
        ('FN;TYPE="x:Grace', 'Failed to parse line: FN;TYPE="x:Grace'),
        ("FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=FF=FE", "can't decode byte 0xff"),
        ("N;CHARSET=KLINGON;ENCODING=QUOTED-PRINTABLE:=41", "unknown encoding: KLINGON"),
    ],
)
def test_a_broken_property_syncd_reads_is_a_card_error_with_a_one_line_reason(line, reason):
    found = card(v3(line, "EMAIL:g@navy.example"))
    assert isinstance(found, str) and found.startswith("unreadable vCard: ") and reason in found
    assert "\n" not in found


# --------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("lines", "want"),
    [
        (["FN:Grace", "EMAIL:mailto:G@Navy.example"], ("g@navy.example",)),
        (["FN:Grace", "EMAIL:Grace Hopper <G@Navy.example>"], ("g@navy.example",)),
        (
            ["FN:Grace", "EMAIL:g@navy.example", "EMAIL;TYPE=work:G@NAVY.EXAMPLE"],
            ("g@navy.example",),
        ),
        (
            ["FN:Grace", "EMAIL:not an address", "EMAIL:", "EMAIL:g@navy.example"],
            ("g@navy.example",),
        ),
        (["FN:Grace", "EMAIL:g@navy.example\\"], ("g@navy.example",)),  # a dangling backslash
        (["FN:Grace", "item_1.EMAIL:g@navy.example"], ("g@navy.example",)),  # Lotus Notes
    ],
)
def test_addresses_are_lowercased_deduplicated_and_cleaned(lines, want):
    found = card(v3(*lines))
    assert isinstance(found, Card) and found.emails == want


@pytest.mark.parametrize(
    ("lines", "name"),
    [
        (["FN:  Grace \t Hopper ", "N:Hopper;Grace;;;"], "Grace Hopper"),
        (["FN:", "N:Hopper;Grace;Brewster;Rear Adm.;"], "Rear Adm. Grace Brewster Hopper"),
        (["N:Hopper;Grace"], "Grace Hopper"),  # vCard 2.1 writers may leave out FN and parts
        (["FN:Grace\\, the Admiral"], "Grace, the Admiral"),
        (["FN:Ada\x00\x07Lovelace"], "Ada Lovelace"),  # control characters
        (
            ["FN:\u0645\u06cc\u200c\u0631\u0648\u0645"],
            "\u0645\u06cc\u200c\u0631\u0648\u0645",
        ),  # ZWNJ
        (["FN:", "N:;;;;"], None),
    ],
)
def test_names_from_fn_else_n_on_one_clean_line(lines, name):
    found = card(v3(*lines, "EMAIL:x@y.example"))
    assert isinstance(found, Card) and found.name == name


@pytest.mark.parametrize(
    ("value", "omit", "want"),
    [
        ("1604-03-10", ("1604",), date(1900, 3, 10)),  # Apple, vCard 3
        ("--0310", (), date(1900, 3, 10)),  # vCard 4
        ("--03-10", (), date(1900, 3, 10)),  # Google
        ("0000-03-10", (), date(1900, 3, 10)),  # some Android apps
        ("19061209", (), date(1906, 12, 9)),  # Outlook
        ("1906-12-09T00:00:00Z", (), date(1906, 12, 9)),
        ("--0229", (), date(1900, 2, 28)),  # 1900 has no 29 February
        ("--1340", (), None),
        ("tomorrow", (), None),
    ],
)
def test_birthday_forms_of_every_writer(value, omit, want):
    assert parse_birthday(value, omit) == want


def test_a_card_error_keeps_the_uid_readable_without_parsing():
    raw = RawCard(4, 30, ("VERSION:3.0", "X-ABUID:apple-1:ABPerson", "item1.UID:u-9", "FN;x"))
    assert raw.uid_hint() == "u-9"
    assert RawCard(1, 1, ("X-ABUID: apple-1 ",)).uid_hint() == "apple-1"
    assert RawCard(1, 1, ("FN:A",)).uid_hint() is None
