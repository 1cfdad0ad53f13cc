"""CardDAV contacts of the caldav source: vCards read with the real Radicale's address books
(tests/servers/radicale.py), and the vCard reading rules on their own."""

from __future__ import annotations

import itertools
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import caldav as caldav_lib
import pytest

from connectors import caldav
from connectors.base import SourceConfig, SourceContext
from connectors.carddav import contact_from_vcard, parse_birthday
from syncd.models import Batch, Contact, Skip
from syncd.secrets import SecretStore
from syncd.store import Store
from tests.servers.radicale import DavUser, Radicale

pytest_plugins = ["tests.servers.fixtures"]  # the session's real servers

PASSWORD_ENV = "SYNCD_TEST_CARDDAV_PASSWORD"
HEIDI = (
    "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:heidi\r\nFN:Heidi Klum\r\nN:Klum;Heidi;;;\r\n"
    "EMAIL;TYPE=work:Heidi@Work.Example\r\nitem1.EMAIL:heidi.personal@home.example\r\n"
    "BDAY:--0610\r\nEND:VCARD\r\n"
)
JOHN = (
    "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:john\r\nN:Doe;John;Q.;Dr.;\r\nFN:\r\n"
    "EMAIL:mailto:john@example.org\r\nEMAIL:not an address\r\nBDAY:19850412\r\nEND:VCARD\r\n"
)
_names = itertools.count()


# -------------------------------------------------------------------------- vCard rules
def test_vcard_gives_name_lowercased_addresses_and_year_less_birthday():
    assert contact_from_vcard(HEIDI.encode(), "/ab/heidi.vcf") == Contact(
        source_id="/ab/heidi.vcf",
        name="Heidi Klum",
        emails=("heidi@work.example", "heidi.personal@home.example"),
        birthday=date(1900, 6, 10),
    )


def test_vcard_without_fn_takes_its_name_from_n_and_drops_bad_addresses():
    assert contact_from_vcard(JOHN.encode(), "/ab/john.vcf") == Contact(
        source_id="/ab/john.vcf",
        name="Dr. John Q. Doe",
        emails=("john@example.org",),
        birthday=date(1985, 4, 12),
    )


@pytest.mark.parametrize(
    ("value", "omit", "want"),
    [
        ("1985-04-12", (), date(1985, 4, 12)),
        ("19850412", (), date(1985, 4, 12)),
        ("1985-04-12T00:00:00Z", (), date(1985, 4, 12)),
        ("--0412", (), date(1900, 4, 12)),
        ("--04-12", (), date(1900, 4, 12)),
        ("1604-04-12", ("1604",), date(1900, 4, 12)),  # Apple: X-APPLE-OMIT-YEAR=1604
        ("--0229", (), date(1900, 2, 28)),  # 1900 has no 29 February
        ("2000-02-29", (), date(2000, 2, 29)),
        ("2001-02-29", (), None),
        ("circa 1800", (), None),
        ("", (), None),
    ],
)
def test_birthday_forms(value, omit, want):
    assert parse_birthday(value, omit) == want


def test_text_birthday_is_not_a_date():
    card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Old\r\nBDAY;VALUE=text:1800\r\nEND:VCARD\r\n"
    assert contact_from_vcard(card.encode(), "/x.vcf").birthday is None


@pytest.mark.parametrize(
    "data", [b"not a vcard at all", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", b"\xff\xfe\x00", None]
)
def test_unreadable_vcard_is_a_skip_with_a_reason(data):
    item = contact_from_vcard(data, "/ab/bad.vcf")
    assert isinstance(item, Skip) and item.where == "/ab/bad.vcf" and item.reason


# ------------------------------------------------------------------------ with Radicale
@pytest.fixture
def user(radicale: Radicale, monkeypatch: pytest.MonkeyPatch) -> DavUser:
    u = radicale.add_user()
    monkeypatch.setenv(PASSWORD_ENV, u.password)
    return u


@pytest.fixture
def dav(radicale: Radicale, user: DavUser):
    client = caldav_lib.DAVClient(
        radicale.url,
        username=user.name,
        password=user.password,
        ssl_verify_cert=str(radicale.pki.ca_file),
    )
    yield client
    client.close()


def make_addressbook(dav: Any, name: str = "Contacts") -> str:
    """An address book (RFC 5689 extended MKCOL), as a contacts app makes one; its URL."""
    url = f"{str(dav.principal().url).rstrip('/')}/{name.lower()}{next(_names)}/"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>'
        "<d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>"
        f"<d:displayname>{name}</d:displayname></d:prop></d:set></d:mkcol>"
    )
    resp = dav.request(url, "MKCOL", body, {"Content-Type": "application/xml"})
    assert resp.status == 201, (resp.status, resp.raw)
    return url


def put_vcard(dav: Any, book: str, name: str, card: str) -> str:
    url = f"{book}{name}"
    resp = dav.put(url, card, {"Content-Type": "text/vcard; charset=utf-8"})
    assert resp.status in (201, 204), (name, resp.status, resp.raw)
    return urlsplit(url).path


def source(radicale: Radicale, user: DavUser, **options: Any) -> SourceConfig:
    opts: dict[str, Any] = {
        "url": radicale.url,
        "username": user.name,
        "password_env": PASSWORD_ENV,
        "ca_file": radicale.pki.ca_file,
    }
    opts.update(options)
    return SourceConfig("cal", "caldav", opts)


def sync(src: SourceConfig, tmp_path: Path, cursor: dict | None = None, *, mode: str = "sync"):
    ctx = SourceContext(
        name="cal", state_dir=tmp_path, secrets=SecretStore(tmp_path, use_keyring=False)
    )
    conn = caldav.open(src, ctx)
    if mode == "ctag-etag":  # play a server without RFC 6578: Radicale minus one report
        props = conn._props
        conn._props = lambda url: {**props(url), "sync_collection": False}
    return list(conn.fetch(cursor))


def contacts(batches: list[Batch]) -> dict[str, Contact]:
    return {c.source_id: c for b in batches for c in b.contacts}


def stored(store: Store) -> set[tuple[str | None, tuple[str, ...], str | None]]:
    return {
        (c.name, c.emails, c.birthday.isoformat() if c.birthday else None) for c in store.contacts()
    }


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path / "syncd.db")
    s.ensure_source("cal", "caldav")
    yield s
    s.close()


@pytest.mark.parametrize("mode", ["sync-collection", "ctag-etag"])
def test_address_books_are_read_and_kept_up_to_date(mode, radicale, user, dav, tmp_path, store):
    book, other = make_addressbook(dav), make_addressbook(dav, "Work")
    h1 = put_vcard(dav, book, "heidi.vcf", HEIDI)
    h2 = put_vcard(dav, other, "john.vcf", JOHN)

    first = sync(source(radicale, user), tmp_path, mode=mode)
    for b in first:
        store.apply_batch("cal", b)

    assert contacts(first) == {
        h1: contact_from_vcard(HEIDI.encode(), h1),
        h2: contact_from_vcard(JOHN.encode(), h2),
    }
    assert sorted(first[-1].cursor["addressbooks"]) == sorted([book, other])
    assert sync(source(radicale, user), tmp_path, first[-1].cursor, mode=mode) == []

    # Heidi gets married, John is deleted, Ann is new.
    renamed = HEIDI.replace("Heidi Klum", "Heidi Samuel")
    put_vcard(dav, book, "heidi.vcf", renamed)
    dav.delete(f"{other}john.vcf")
    ann = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann\r\nFN:Ann\r\nEMAIL:ann@x.org\r\nEND:VCARD\r\n"
    h3 = put_vcard(dav, book, "ann.vcf", ann)
    second = sync(source(radicale, user), tmp_path, first[-1].cursor, mode=mode)
    for b in second:
        store.apply_batch("cal", b)

    assert contacts(second) == {
        h1: contact_from_vcard(renamed.encode(), h1),
        h3: contact_from_vcard(ann.encode(), h3),
    }
    assert [d for b in second for d in b.contact_deletions] == [h2]
    assert stored(store) == {
        ("Heidi Samuel", ("heidi.personal@home.example", "heidi@work.example"), "1900-06-10"),
        ("Ann", ("ann@x.org",), None),
    }
    assert sync(source(radicale, user), tmp_path, second[-1].cursor, mode=mode) == []


def test_contacts_false_reads_no_address_book_and_forgets_what_it_had(
    radicale, user, dav, tmp_path, store
):
    book = make_addressbook(dav)
    h1 = put_vcard(dav, book, "heidi.vcf", HEIDI)
    first = sync(source(radicale, user), tmp_path)
    for b in first:
        store.apply_batch("cal", b)
    assert len(stored(store)) == 1

    off = sync(source(radicale, user, contacts=False), tmp_path, first[-1].cursor)
    for b in off:
        store.apply_batch("cal", b)

    assert contacts(off) == {} and [d for b in off for d in b.contact_deletions] == [h1]
    assert stored(store) == set() and off[-1].cursor["addressbooks"] == {}
    assert sync(source(radicale, user, contacts=False), tmp_path) == []


def test_vcard_that_lost_its_addresses_no_longer_merges_them(radicale, user, dav, tmp_path, store):
    book = make_addressbook(dav)
    h1 = put_vcard(dav, book, "heidi.vcf", HEIDI)
    first = sync(source(radicale, user), tmp_path)
    bare = "".join(line + "\r\n" for line in HEIDI.splitlines() if "EMAIL" not in line)
    put_vcard(dav, book, "heidi.vcf", bare)
    second = sync(source(radicale, user), tmp_path, first[-1].cursor)
    for b in first + second:
        store.apply_batch("cal", b)

    assert contacts(second) == {h1: Contact(h1, "Heidi Klum", (), date(1900, 6, 10))}
    assert stored(store) == {("Heidi Klum", (), "1900-06-10")}
