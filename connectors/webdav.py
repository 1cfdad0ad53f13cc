"""WebDAV plumbing shared by the CalDAV and CardDAV halves of the ``caldav`` source (private).

Requests go through the caldav library's ``DAVClient`` (authentication, TLS, sessions); the
multistatus XML is read here with lxml, entities and network access off (it comes from a
server we only half trust).

Terminology: a **collection** is a calendar or an address book; an **object** is one resource
in it (an ``.ics`` or a ``.vcf``), named by its **href** (the unquoted URL path) and versioned
by its **etag**.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit
from xml.sax.saxutils import escape

from syncd.errors import SourceError

NS = {
    "d": "DAV:",
    "c": "urn:ietf:params:xml:ns:caldav",
    "card": "urn:ietf:params:xml:ns:carddav",
    "cs": "http://calendarserver.org/ns/",
}
_PROPS = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">
  <d:prop><d:sync-token/><cs:getctag/><d:supported-report-set/></d:prop>
</d:propfind>"""
_ETAGS = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:resourcetype/></d:prop></d:propfind>"""
_HOME = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav">
  <d:prop><card:addressbook-home-set/></d:prop>
</d:propfind>"""
_CHILDREN = """<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:displayname/></d:prop></d:propfind>"""
_SYNC = """<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:">
  <d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level>
  <d:prop><d:getetag/></d:prop>
</d:sync-collection>"""
# (report element, namespace, data property) of a multiget, per kind of collection.
_MULTIGET = {
    "calendar": ("calendar-multiget", NS["c"], "calendar-data"),
    "addressbook": ("addressbook-multiget", NS["card"], "address-data"),
}


class TokenExpiredError(Exception):
    """The server no longer knows our sync token (RFC 6578 ``valid-sync-token``)."""


def collection_props(client: Any, url: str) -> dict[str, Any]:
    """sync token, whether sync-collection is offered, and the CalendarServer ctag."""
    tree = _tree(client.propfind(url, _PROPS, depth=0))
    token = tree.findtext(".//d:sync-token", namespaces=NS)
    reports = tree.find(".//d:supported-report-set", namespaces=NS)
    offers_sync = (
        reports is not None and reports.find(".//d:sync-collection", namespaces=NS) is not None
    )
    return {
        "sync_token": token,
        "sync_collection": bool(token) and offers_sync,
        "ctag": tree.findtext(".//cs:getctag", namespaces=NS),
    }


def report(client: Any, url: str, body: str, host: str) -> dict[str, tuple[str, bytes | None]]:
    """href -> (etag, object data or None) from a query or multiget REPORT."""
    resp = client.report(url, body, depth=1)
    if resp.status >= 400:
        raise SourceError(f"{host}: REPORT on {url} failed with status {resp.status}")
    return _objects(resp, url)


def multiget(
    client: Any, url: str, hrefs: list[str], kind: str, host: str
) -> dict[str, tuple[str, bytes | None]]:
    """The objects ``hrefs`` of a calendar or address book; those gone are left out."""
    element, ns, data = _MULTIGET[kind]
    refs = "".join(f"<d:href>{escape(quote(h))}</d:href>" for h in hrefs)
    body = (
        f'<?xml version="1.0" encoding="utf-8"?>\n<x:{element} xmlns:d="DAV:" xmlns:x="{ns}">'
        f"<d:prop><d:getetag/><x:{data}/></d:prop>{refs}</x:{element}>"
    )
    return report(client, url, body, host)


def etags(client: Any, url: str) -> dict[str, str]:
    """href -> etag of every object in a collection (PROPFIND depth 1)."""
    resp = client.propfind(url, _ETAGS, depth=1)
    return {h: etag for h, (etag, _) in _objects(resp, url).items() if etag}


def sync_collection(client: Any, url: str, token: str, host: str) -> tuple[list, list, str]:
    """(changed hrefs, deleted hrefs, new token) since ``token``; follows truncation."""
    from caldav.lib import error

    changed: set[str] = set()
    deleted: set[str] = set()
    for _page in range(100):
        try:
            resp = client.report(url, _SYNC.format(token=escape(token)), depth=0)
        except error.AuthorizationError as e:
            if "valid-sync-token" in str(getattr(e, "preconditions", "")):
                raise TokenExpiredError() from e
            raise
        if resp.status in (403, 409) and b"valid-sync-token" in (resp.raw or b""):
            raise TokenExpiredError()
        if resp.status >= 400:
            raise SourceError(f"{host}: sync-collection on {url}: status {resp.status}")
        tree = _tree(resp)
        truncated = False
        for r in tree.findall("d:response", namespaces=NS):
            href = _href(r.findtext("d:href", namespaces=NS), url)
            st = _status(r)
            if href is None:  # the collection itself: 507 means "more to come"
                truncated = truncated or st == 507
            elif st == 404:
                deleted.add(href)
                changed.discard(href)
            else:
                changed.add(href)
                deleted.discard(href)
        token = tree.findtext("d:sync-token", default=token, namespaces=NS)
        if not truncated:
            break
    return sorted(changed), sorted(deleted), token


def addressbooks(client: Any, principal_url: str) -> list[tuple[str, str | None]]:
    """(URL, display name) of each address book in the principal's addressbook home (RFC 6352
    7.1.1); none when the server does not speak CardDAV."""
    tree = _tree(client.propfind(principal_url, _HOME, depth=0))
    home = tree.findtext(".//card:addressbook-home-set/d:href", namespaces=NS)
    if not home:
        return []
    home_url = urljoin(principal_url, home.strip())
    tree = _tree(client.propfind(home_url, _CHILDREN, depth=1))
    out = []
    for r in tree.findall("d:response", namespaces=NS):
        if r.find(".//d:resourcetype/card:addressbook", namespaces=NS) is None:
            continue
        href = r.findtext("d:href", namespaces=NS)
        if href:
            out.append(
                (urljoin(home_url, href.strip()), r.findtext(".//d:displayname", namespaces=NS))
            )
    return out


# ---------------------------------------------------------------------- XML
def _objects(resp: Any, url: str) -> dict[str, tuple[str, bytes | None]]:
    out: dict[str, tuple[str, bytes | None]] = {}
    for r in _tree(resp).findall("d:response", namespaces=NS):
        href = _href(r.findtext("d:href", namespaces=NS), url)
        if href is None or _status(r) == 404:
            continue
        data = r.findtext(".//c:calendar-data", namespaces=NS)
        if data is None:
            data = r.findtext(".//card:address-data", namespaces=NS)
        out[href] = (
            r.findtext(".//d:getetag", default="", namespaces=NS),
            data.encode() if data is not None else None,
        )
    return out


def _tree(resp: Any) -> Any:
    from lxml import etree

    raw = resp.raw if isinstance(resp.raw, bytes) else str(resp.raw).encode()
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    return etree.fromstring(raw, parser=parser)


def _href(text: str | None, base: str) -> str | None:
    """The object's path (unquoted), or None for the collection itself."""
    if not text:
        return None
    path = unquote(urlsplit(urljoin(base, text.strip())).path)
    if path.rstrip("/") == unquote(urlsplit(base).path).rstrip("/"):
        return None
    return path


def _status(response: Any) -> int | None:
    text = response.findtext("d:status", namespaces=NS) or response.findtext(
        "d:propstat/d:status", namespaces=NS
    )
    try:
        return int(text.split()[1]) if text else None
    except (IndexError, ValueError):
        return None


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)
