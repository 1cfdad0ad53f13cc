"""vCard exports as real address books write them, for the ``vcard`` source's tests.

One :class:`Person`, five writers, each after the export of one application:

- :func:`apple_v3`: macOS / iOS Contacts, vCard 3.0: ``item1.EMAIL`` grouped with an
  ``X-ABLabel``, lowercase ``type=`` parameters, ``BDAY;X-APPLE-OMIT-YEAR=1604`` for a year-less
  birthday, a ``PHOTO;ENCODING=b`` block folded at 75 octets, ``X-ABUID`` instead of ``UID``.
- :func:`google_v3`: Google Contacts' "vCard (for iOS Contacts)" export, vCard 3.0: several
  ``EMAIL;TYPE=INTERNET``, ``BDAY:--MM-DD`` without a year, ``CATEGORIES:myContacts``, a photo
  URL, no UID.
- :func:`android_v21`: an Android phone's "Export to .vcf", vCard 2.1: non-ASCII names as
  ``N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE`` with soft line breaks (``=`` at the end of a
  line, the next line not indented), ``X-ANDROID-CUSTOM``, a base64 photo indented and ended by
  a blank line.
- :func:`outlook_v21`: Outlook for Windows' "Save as vCard", vCard 2.1 in Windows-1252 (encode
  the file with ``cp1252``), ``EMAIL;PREF;INTERNET``, ``BDAY:YYYYMMDD``, ``X-MS-OL-DESIGN``.
- :func:`thunderbird_v4`: Thunderbird's address book, vCard 4.0: ``EMAIL;PREF=1``,
  ``BDAY;VALUE=DATE:--MMDD``, ``UID``, ``PHOTO:data:`` URI.

Each writer returns the card as text with CRLF line ends; :func:`vcf_file` joins cards into a
file's bytes (encoding, byte order mark, a missing final ``END:VCARD``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

# A few hundred bytes that look like a JPEG; Photos make real exports large and slow.
PHOTO = bytes(range(256)) * 3


@dataclass(frozen=True)
class Person:
    given: str
    family: str
    emails: Sequence[str] = ()
    birthday: date | tuple[int, int] | None = None  # (month, day) when the year is unknown
    uid: str | None = None
    phone: str = "+44 20 7946 0000"
    photo: bool = False
    org: str = ""

    @property
    def full(self) -> str:
        return " ".join(p for p in (self.given, self.family) if p)


Writer = Callable[[Person], str]


def fold(line: str, width: int = 75) -> list[str]:
    """RFC 6350 folding: at most ``width`` octets a line, continuations start with a space.
    Multi-octet characters stay whole."""
    out: list[str] = []
    current, size = "", 0
    for ch in line:
        n = len(ch.encode("utf-8"))
        if size + n > width:
            out.append(current)
            current, size = " ", 1
        current += ch
        size += n
    out.append(current)
    return out


def _card(lines: Sequence[str], *, folded: bool = True) -> str:
    physical = [p for line in lines for p in (fold(line) if folded else [line])]
    return "".join(f"{p}\r\n" for p in physical)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")


def apple_v3(p: Person) -> str:
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        "PRODID:-//Apple Inc.//macOS 14.4//EN",
        f"N:{_escape(p.family)};{_escape(p.given)};;;",
        f"FN:{_escape(p.full)}",
    ]
    if p.org:
        lines.append(f"ORG:{_escape(p.org)};")
    for i, addr in enumerate(p.emails):
        if i == 0:  # the first address carries a custom label: a grouped pair
            lines += [
                f"item1.EMAIL;type=INTERNET;type=pref:{addr}",
                "item1.X-ABLabel:_$!<Other>!$_",
            ]
        else:
            lines.append(f"EMAIL;type=INTERNET;type={'HOME' if i == 1 else 'WORK'}:{addr}")
    lines.append(f"TEL;type=CELL;type=VOICE;type=pref:{p.phone}")
    lines += [
        "item2.ADR;type=HOME;type=pref:;;12 Fleet Street;London;;EC4Y 1AA;United Kingdom",
        "item2.X-ABADR:gb",
    ]
    if isinstance(p.birthday, tuple):
        lines.append(f"BDAY;X-APPLE-OMIT-YEAR=1604:1604-{p.birthday[0]:02d}-{p.birthday[1]:02d}")
    elif p.birthday:
        lines.append(f"BDAY;VALUE=date:{p.birthday.isoformat()}")
    if p.photo:
        lines.append("PHOTO;ENCODING=b;TYPE=JPEG:" + base64.b64encode(PHOTO).decode())
    if p.uid:
        lines.append(f"X-ABUID:{p.uid}:ABPerson")
    lines.append("END:VCARD")
    return _card(lines)


def google_v3(p: Person) -> str:
    lines = [
        "BEGIN:VCARD",
        "VERSION:3.0",
        f"FN:{_escape(p.full)}",
        f"N:{_escape(p.family)};{_escape(p.given)};;;",
    ]
    kinds = ["TYPE=INTERNET;TYPE=HOME", "TYPE=INTERNET;TYPE=WORK", "TYPE=INTERNET"]
    for i, addr in enumerate(p.emails):
        if i < len(kinds):
            lines.append(f"EMAIL;{kinds[i]}:{addr}")
        else:
            lines += [f"item{i}.EMAIL;TYPE=INTERNET:{addr}", f"item{i}.X-ABLabel:Old school"]
    lines.append(f"TEL;TYPE=CELL:{p.phone}")
    if isinstance(p.birthday, tuple):
        lines.append(f"BDAY:--{p.birthday[0]:02d}-{p.birthday[1]:02d}")
    elif p.birthday:
        lines.append(f"BDAY:{p.birthday.isoformat()}")
    if p.org:
        lines.append(f"ORG:{_escape(p.org)}")
    if p.photo:
        lines.append("PHOTO:https://lh3.googleusercontent.com/contacts/AOSj1Qm0example=s100")
    lines += ["CATEGORIES:myContacts,starred", "END:VCARD"]
    return _card(lines)


def _qp(text: str) -> list[str]:
    """Quoted-printable UTF-8 as Android writes it: every octet escaped (``=C3=89``) but the
    ``;`` between name parts, a soft line break (``=`` ending the line, the next one not
    indented) every 24 octets."""
    tokens = [";" if b == 0x3B else f"={b:02X}" for b in text.encode("utf-8")]
    chunks = ["".join(tokens[i : i + 24]) for i in range(0, len(tokens), 24)] or [""]
    return [c + "=" for c in chunks[:-1]] + chunks[-1:]


def android_v21(p: Person) -> str:
    lines: list[str] = ["BEGIN:VCARD", "VERSION:2.1"]
    name_n = f"{p.family};{p.given};;;"
    if p.full.isascii():
        lines += [f"N:{name_n}", f"FN:{p.full}"]
    else:
        for prop, value in (("N", name_n), ("FN", p.full)):
            qp = _qp(value)
            lines.append(f"{prop};CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{qp[0]}")
            lines += qp[1:]
    nickname = f"vnd.android.cursor.item/nickname;{p.given};1;;;;;;;;;;;;;"
    if nickname.isascii():
        lines.append(f"X-ANDROID-CUSTOM:{nickname}")
    else:
        qp = _qp(nickname)
        lines.append(f"X-ANDROID-CUSTOM;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:{qp[0]}")
        lines += qp[1:]
    lines.append(f"TEL;CELL:{p.phone}")
    for i, addr in enumerate(p.emails):
        lines.append(f"EMAIL;{('HOME', 'WORK', 'X-Uni')[min(i, 2)]}:{addr}")
    if isinstance(p.birthday, tuple):
        lines.append(f"BDAY:--{p.birthday[0]:02d}-{p.birthday[1]:02d}")
    elif p.birthday:
        lines.append(f"BDAY:{p.birthday.isoformat()}")
    if p.photo:
        b64 = base64.b64encode(PHOTO).decode()
        lines.append(f"PHOTO;ENCODING=BASE64;JPEG:{b64[:60]}")
        lines += [f" {b64[i : i + 76]}" for i in range(60, len(b64), 76)]
        lines.append("")  # vCard 2.1 ends a base64 block with a blank line
    lines.append("END:VCARD")
    return _card(lines, folded=False)


def outlook_v21(p: Person) -> str:
    lines = [
        "BEGIN:VCARD",
        "VERSION:2.1",
        f"N;LANGUAGE=de:{p.family};{p.given}",
        f"FN:{p.full}",
    ]
    if p.org:
        lines.append(f"ORG:{p.org}")
    lines.append(f"TEL;WORK;VOICE:{p.phone}")
    for i, addr in enumerate(p.emails):
        lines.append(f"EMAIL;PREF;INTERNET:{addr}" if i == 0 else f"EMAIL;INTERNET:{addr}")
    if isinstance(p.birthday, date):  # Outlook has no birthday without a year
        lines.append(f"BDAY:{p.birthday:%Y%m%d}")
    lines += [
        "X-MS-OL-DEFAULT-POSTAL-ADDRESS:0",
        'X-MS-OL-DESIGN;CHARSET=utf-8:<card xmlns="http://schemas.microsoft.com/office/outlook/'
        '12/electronicbusinesscards" ver="1.0" layout="left" bgcolor="ffffff"><img xmlns="" '
        'align="fit" area="16" use="cardpicture"/><fld xmlns="" prop="name" align="left" '
        'dir="ltr" style="b" color="000000" size="10"/></card>',
        "REV:20240115T093000Z",
        "END:VCARD",
    ]
    return _card(lines, folded=False)


def thunderbird_v4(p: Person) -> str:
    lines = [
        "BEGIN:VCARD",
        "VERSION:4.0",
        f"N:{_escape(p.family)};{_escape(p.given)};;;",
        f"FN:{_escape(p.full)}",
    ]
    for i, addr in enumerate(p.emails):
        lines.append(f"EMAIL;PREF=1:{addr}" if i == 0 else f"EMAIL;TYPE=work:{addr}")
    if isinstance(p.birthday, tuple):
        lines.append(f"BDAY;VALUE=DATE:--{p.birthday[0]:02d}{p.birthday[1]:02d}")
    elif p.birthday:
        lines.append(f"BDAY;VALUE=DATE:{p.birthday:%Y%m%d}")
    lines.append(f"TEL;TYPE=cell;VALUE=TEXT:{p.phone}")
    if p.photo:
        lines.append("PHOTO:data:image/jpeg;base64," + base64.b64encode(PHOTO).decode())
    if p.uid:
        lines.append(f"UID:{p.uid}")
    lines.append("END:VCARD")
    return _card(lines)


WRITERS: dict[str, Writer] = {
    "apple": apple_v3,
    "google": google_v3,
    "android": android_v21,
    "outlook": outlook_v21,
    "thunderbird": thunderbird_v4,
}


def vcf_file(
    cards: Sequence[str],
    *,
    encoding: str = "utf-8",
    bom: bool = False,
    drop_last_end: bool = False,
    newline: str = "\r\n",
) -> bytes:
    """The bytes of an export holding ``cards`` (as the writers above return them)."""
    text = "".join(cards)
    if drop_last_end:
        text = text.removesuffix("END:VCARD\r\n")
    if newline != "\r\n":
        text = text.replace("\r\n", newline)
    data = text.encode(encoding)
    if bom:
        data = {"utf-8": b"\xef\xbb\xbf", "utf-16-le": b"\xff\xfe"}[encoding] + data
    return data
