"""Property tests for reading vCards: whatever a file holds (arbitrary property names,
parameters and values, names, addresses, BDAY strings, bytes), the parser returns a Card or a
CardError and the connector returns batches; names and addresses written correctly come back
as written."""

from __future__ import annotations

import tempfile
import unicodedata
from datetime import date
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from vcard_builders import WRITERS, Person, fold, vcf_file

from connectors import vcard
from connectors.vcard_format import (
    Card,
    CardError,
    lines_of,
    parse_birthday,
    parse_card,
    split_cards,
)

# Property names: the ones syncd reads, ones it drops, and anything.
NAMES = st.one_of(
    st.sampled_from(["FN", "N", "EMAIL", "BDAY", "UID", "X-ABUID", "VERSION", "PHOTO", "AGENT"]),
    st.sampled_from(["item1.EMAIL", "TEL", "X-ABLabel", "X-ANDROID-CUSTOM", "BEGIN", "END"]),
    st.text(st.characters(codec="ascii"), max_size=12),
)
PARAMS = st.one_of(
    st.just(""),
    st.sampled_from(
        [
            ";TYPE=INTERNET",
            ";CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE",
            ";ENCODING=b",
            ";ENCODING=QUOTED-PRINTABLE",
            ";CHARSET=NOPE;ENCODING=QUOTED-PRINTABLE",
            ";VALUE=text",
            ";X-APPLE-OMIT-YEAR=1604",
            ';TYPE="a:b"',
        ]
    ),
    st.text(max_size=20).map(lambda t: ";" + t),
)
VALUES = st.one_of(
    st.text(max_size=60),
    st.emails(),
    st.sampled_from(["--0310", "--03-10", "1604-03-10", "0000-02-29", "=C3=89=", "\\", "=\r\n"]),
)
PROPERTY = st.tuples(NAMES, PARAMS, VALUES).map(lambda t: f"{t[0]}{t[1]}:{t[2]}")


def read(data: bytes) -> list[Card | CardError]:
    out: list[Card | CardError] = []
    for raw in split_cards(lines_of(data)):
        try:
            out.append(parse_card(raw))
        except CardError as e:
            out.append(e)
    return out


def check_card(found: Card | CardError) -> None:
    """What every reader of a Card relies on."""
    if isinstance(found, CardError):
        assert str(found).startswith("unreadable vCard") and "\n" not in str(found)
        return
    assert isinstance(found, Card)
    for addr in found.emails:
        assert "@" in addr and addr == addr.lower() and not any(c.isspace() for c in addr)
    assert len(set(found.emails)) == len(found.emails)
    for text in (found.name, found.uid):  # one line, no control characters, trimmed
        assert text is None or (text and text == " ".join(text.split()))
        assert not any(unicodedata.category(c) == "Cc" for c in text or "")
    assert found.birthday is None or isinstance(found.birthday, date)


@given(st.lists(PROPERTY, max_size=12), st.sampled_from(["\r\n", "\n"]), st.booleans())
@example(["FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=C3=89=", "EMAIL:a@b.example"], "\r\n", True)
@example(["N:;;;;;;;;", "EMAIL:a@b.example\\"], "\n", False)
def test_any_properties_give_a_card_or_a_card_error(props, newline, end):
    text = newline.join(["BEGIN:VCARD", "VERSION:3.0", *props] + (["END:VCARD"] if end else []))
    for found in read(text.encode("utf-8", "surrogatepass")):
        check_card(found)


@given(st.binary(max_size=400))
@example(b"BEGIN:VCARD\r\n\xff\xfe")
@example(b"\xfe\xffBEGIN:VCARD")
@example(b"BEGIN:VCARD\nFN:\xc3\n \xa9\n")
def test_any_bytes_give_cards_or_card_errors(data):
    for found in read(data):
        check_card(found)


@given(st.text(max_size=30), st.lists(st.text(max_size=6), max_size=2))
def test_any_bday_string_is_a_date_or_none(value, omit):
    found = parse_birthday(value, omit)
    assert found is None or isinstance(found, date)


@given(st.dates(min_value=date(1, 1, 1)))
def test_birthdays_round_trip_in_every_written_form(day):
    for value in (day.isoformat(), f"{day:%Y%m%d}", f"{day.isoformat()}T12:00:00Z"):
        if day.year >= 1000 and day.year != 1900:
            assert parse_birthday(value) == day
    year_less = date(1900, day.month, 28 if (day.month, day.day) == (2, 29) else day.day)
    for value in (f"--{day:%m%d}", f"--{day:%m-%d}", f"0000-{day:%m-%d}"):
        assert parse_birthday(value) == year_less
    assert parse_birthday(f"1604-{day:%m-%d}", ["1604"]) == year_less


def escape(text: str) -> str:
    """vCard 3 text escaping: what a correct writer does to a name."""
    for a, b in (("\\", "\\\\"), (",", "\\,"), (";", "\\;"), ("\n", "\\n")):
        text = text.replace(a, b)
    return text


NAME_TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=40)


@given(NAME_TEXT, st.lists(st.emails(), min_size=1, max_size=4), st.sampled_from(["3.0", "4.0"]))
@example("Grace\u2028Hopper", ["A@B.example"], "3.0")
def test_names_and_addresses_written_correctly_come_back(name, emails, version):
    lines = ["BEGIN:VCARD", f"VERSION:{version}", f"FN:{escape(name)}"]
    lines += [f"EMAIL;TYPE=INTERNET:{e}" for e in emails]
    lines.append("END:VCARD")
    text = "".join(f"{p}\r\n" for line in lines for p in fold(line))
    (found,) = read(text.encode())
    want_emails = tuple(dict.fromkeys(e.lower() for e in emails))
    assert found == Card(None, " ".join(name.split()) or None, want_emails, None)


PEOPLE = st.builds(
    Person,
    given=NAME_TEXT,
    family=NAME_TEXT,
    emails=st.lists(st.emails(), max_size=3),
    birthday=st.one_of(st.none(), st.dates(), st.tuples(st.integers(1, 12), st.integers(1, 28))),
    uid=st.one_of(
        st.none(), st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1)
    ),
    photo=st.booleans(),
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(sorted(WRITERS)), PEOPLE).map(lambda t: WRITERS[t[0]](t[1])),
            st.lists(PROPERTY, max_size=6).map(
                lambda ps: "BEGIN:VCARD\r\n" + "".join(f"{p}\r\n" for p in ps) + "END:VCARD\r\n"
            ),
        ),
        max_size=8,
    ),
    st.booleans(),
)
def test_the_connector_never_raises_and_accounts_for_every_card(cards, drop_end):
    data = vcf_file(cards, drop_last_end=drop_end, encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "c.vcf"
        f.write_bytes(data)
        conn = vcard.VcardConnector("cards", f)
        batches = list(conn.fetch(None))
        n_cards = len(list(split_cards(lines_of(data))))
        contacts = [c for b in batches for c in b.contacts]
        skipped = [s for b in batches for s in b.skipped]
        ignored = sum(n for b in batches for n in b.ignored.values())
        if n_cards:
            assert len(contacts) + len(skipped) + ignored == n_cards
        else:
            assert (contacts, [s.reason for s in skipped]) == (
                [],
                ["no vCard in the file (no BEGIN:VCARD line)"],
            )
        assert len({c.source_id for c in contacts}) == len(contacts)
        assert all(c.emails for c in contacts)
        assert list(conn.fetch(batches[-1].cursor)) == []  # nothing changed: nothing read


@given(
    st.lists(st.tuples(st.sampled_from(sorted(WRITERS)), PEOPLE), min_size=1, max_size=4),
    st.sampled_from(["", "\r\n", "\n\n", "x\n", "\r\n\r\n", "garbage line\r\n"]),
    st.booleans(),
)
def test_every_written_card_is_found_whatever_precedes_it(people, prefix, bom):
    cards = [WRITERS[w](p) for w, p in people]
    data = vcf_file(cards, bom=bom)
    data = data[:3] + prefix.encode() + data[3:] if bom else prefix.encode() + data
    found = read(data)
    assert len(found) == len(cards)
    for (_, person), card in zip(people, found, strict=True):
        assert isinstance(card, Card), card
        assert card.emails == tuple(dict.fromkeys(e.lower() for e in person.emails))
