"""Delivering the digest: the message itself, SMTP against a real server on 127.0.0.1
(STARTTLS, implicit TLS, an untrusted certificate), files and Maildirs, the Gmail/Graph seam,
and the once-per-period record."""

from __future__ import annotations

import dataclasses
import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from digest_samples import AS_OF, empty_digest, person, sample_digest
from smtp_sink import PASSWORD, SmtpSink, pki_in

from syncd import sendlog
from syncd.config import Config, parse_config
from syncd.delivery import FileDeliverer, deliver_digest, send_digest
from syncd.digest_model import Digest
from syncd.errors import DeliveryError, UserError
from syncd.mime import build_message, to_text
from syncd.store import Store

HOSTILE_NAME = 'Eve <script>alert("x")</script>\r\nBcc: victim@evil.example'
HOSTILE_SUBJECT = "Hi\r\nBcc: victim@evil.example\r\n\r\n<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return pki_in(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "syncd.db")


@pytest.fixture(autouse=True)
def smtp_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_TEST_SMTP_PASSWORD", PASSWORD)


def make_config(
    tmp_path: Path, digest: dict[str, Any], smtp: dict[str, Any] | None = None
) -> Config:
    data: dict[str, Any] = {
        "me": {"name": "Ada Lovelace", "emails": ["ada@example.org"], "timezone": "Europe/London"},
        "store": {"path": str(tmp_path / "syncd.db")},
        "digest": digest,
    }
    if smtp:
        data["smtp"] = smtp
    return parse_config(data, tmp_path / "config.toml")


def hostile_digest() -> Digest:
    d = sample_digest()
    eve = person(HOSTILE_NAME, "eve@evil.example", days_since=40, subject=HOSTILE_SUBJECT)
    return dataclasses.replace(d, people=(eve, *d.people))


def parts(msg: EmailMessage) -> dict[str, str]:
    assert msg.get_content_type() == "multipart/alternative"
    return {p.get_content_type(): p.get_content() for p in msg.iter_parts()}


def assert_digest_headers(msg: EmailMessage, period: str) -> None:
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Syncd-Digest"] == period
    assert re.fullmatch(r"<[^<>@\s]+@example\.org>", str(msg["Message-ID"]))
    assert msg["To"].addresses[0].addr_spec == "ada@example.org"
    assert msg["Subject"].startswith("syncd: ")
    assert msg["Date"] is not None


# ------------------------------------------------------------------------------ the message
def test_message_is_multipart_alternative_with_text_and_html(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"via": "file", "file_path": str(tmp_path / "out")})
    msg = build_message(sample_digest(), config, now=AS_OF)
    assert_digest_headers(msg, "2026-W48")
    body = parts(msg)
    assert set(body) == {"text/plain", "text/html"}
    assert "Grace Hopper" in body["text/plain"]
    assert "Grace Hopper" in body["text/html"]
    assert to_text(msg).isascii()  # stored and resent byte for byte


def test_hostile_names_and_subjects_cannot_inject_headers_or_markup(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        {"via": "file", "file_path": str(tmp_path / "out")},
    )
    config = dataclasses.replace(
        config, me=dataclasses.replace(config.me, name="Ada\r\nBcc: spy@evil.example")
    )
    raw = to_text(build_message(hostile_digest(), config, now=AS_OF)).encode()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert msg["Bcc"] is None
    assert not re.search(rb"^Bcc:", raw, re.M)
    header_names = {k.lower() for k in msg}
    assert header_names <= {
        "from", "to", "subject", "date", "message-id", "auto-submitted",
        "x-auto-response-suppress", "x-syncd-digest", "mime-version", "content-type",
    }  # fmt: skip
    body = parts(msg)
    assert "<script>" not in body["text/html"]
    assert "&lt;script&gt;" in body["text/html"]
    assert "<img src=x" not in body["text/html"]
    assert not re.search(r"^Bcc:", body["text/plain"], re.M)
    assert "Eve" in body["text/plain"]


# ------------------------------------------------------------------------------ smtp
@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_smtp_delivers_once_with_both_parts_and_headers(
    tmp_path: Path, store: Store, pki: Any, mode: str
) -> None:
    with SmtpSink(pki, mode) as server:
        config = make_config(tmp_path, {"via": "smtp"}, server.smtp_table())
        out = send_digest(store, config, hostile_digest())
        assert out.startswith("Sent the digest for 2026-W48 by SMTP")
        again = send_digest(store, config, hostile_digest())
    assert "already sent" in again
    assert len(server.messages) == 1
    msg = server.messages[0]
    assert_digest_headers(msg, "2026-W48")
    frm, rcpt, _ = server.handler.received[0]
    assert (frm, rcpt) == ("ada@example.org", ["ada@example.org"])
    body = parts(msg)
    assert "&lt;script&gt;" in body["text/html"] and "<script>" not in body["text/html"]
    assert msg["Bcc"] is None
    row = sendlog.get(store, "2026-W48")
    assert row is not None and row.state == "sent" and row.message_id == msg["Message-ID"]


def test_smtp_refuses_a_certificate_from_an_untrusted_ca(
    tmp_path: Path, store: Store, pki: Any
) -> None:
    with SmtpSink(pki, "starttls", rogue=True) as server:
        config = make_config(tmp_path, {"via": "smtp"}, server.smtp_table())
        with pytest.raises(DeliveryError, match="certificate not trusted"):
            send_digest(store, config, sample_digest())
    assert server.handler.received == []
    row = sendlog.get(store, "2026-W48")
    assert row is not None and row.state == "pending"  # in doubt: the next try resends it


def test_implicit_tls_with_an_untrusted_certificate_is_refused(
    tmp_path: Path, store: Store, pki: Any
) -> None:
    with SmtpSink(pki, "tls", rogue=True) as server:
        config = make_config(tmp_path, {"via": "smtp"}, server.smtp_table())
        with pytest.raises(DeliveryError, match="certificate not trusted"):
            send_digest(store, config, sample_digest())
    assert server.handler.received == []


def test_system_trust_alone_does_not_accept_a_private_ca(
    tmp_path: Path, store: Store, pki: Any
) -> None:
    with SmtpSink(pki, "tls") as server:
        table = {k: v for k, v in server.smtp_table().items() if k != "ca_file"}
        config = make_config(tmp_path, {"via": "smtp"}, table)
        with pytest.raises(DeliveryError, match="certificate not trusted"):
            send_digest(store, config, sample_digest())
    assert server.handler.received == []


def test_a_send_left_pending_is_retried_with_the_same_message_id(
    tmp_path: Path, store: Store, pki: Any
) -> None:
    with SmtpSink(pki, "starttls", rogue=True) as bad:
        config = make_config(tmp_path, {"via": "smtp"}, bad.smtp_table())
        with pytest.raises(DeliveryError):
            send_digest(store, config, sample_digest())
    first = sendlog.get(store, "2026-W48")
    assert first is not None
    with SmtpSink(pki, "starttls") as good:
        config = make_config(tmp_path, {"via": "smtp"}, good.smtp_table())
        later = dataclasses.replace(sample_digest(), people=())  # the data moved on meanwhile
        out = send_digest(store, config, later)
    assert out.startswith("Resent the digest left in doubt for 2026-W48")
    assert [m["Message-ID"] for m in good.messages] == [first.message_id]
    assert "Grace Hopper" in parts(good.messages[0])["text/plain"]  # the stored message
    row = sendlog.get(store, "2026-W48")
    assert row is not None and row.state == "sent" and row.attempts == 2


def test_wrong_password_is_a_clear_delivery_error(
    tmp_path: Path, store: Store, pki: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCD_TEST_SMTP_PASSWORD", "wrong")
    with SmtpSink(pki, "tls") as server:
        config = make_config(tmp_path, {"via": "smtp"}, server.smtp_table())
        with pytest.raises(DeliveryError, match="login refused"):
            send_digest(store, config, sample_digest())
    assert server.handler.received == []


def test_starttls_missing_on_the_server_means_nothing_is_sent(
    tmp_path: Path, store: Store, pki: Any
) -> None:
    with SmtpSink(pki, "none") as server:
        table = {**server.smtp_table(), "security": "starttls"}
        config = make_config(tmp_path, {"via": "smtp"}, table)
        with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
            send_digest(store, config, sample_digest())
    assert server.handler.received == []


def test_plain_smtp_is_refused_to_a_non_loopback_host(tmp_path: Path, store: Store) -> None:
    config = make_config(
        tmp_path, {"via": "smtp"}, {"host": "smtp.example.org", "security": "none", "port": 25}
    )
    with pytest.raises(UserError, match="only allowed to a loopback"):
        send_digest(store, config, sample_digest())


def test_force_sends_a_new_digest_for_the_same_period(
    tmp_path: Path, store: Store, pki: Any
) -> None:
    with SmtpSink(pki, "tls") as server:
        config = make_config(tmp_path, {"via": "smtp"}, server.smtp_table())
        send_digest(store, config, sample_digest())
        out = deliver_digest(store, config, sample_digest(), force=True)
    assert out.status == "sent"
    ids = [m["Message-ID"] for m in server.messages]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_empty_digest_is_not_sent_unless_configured(tmp_path: Path, store: Store) -> None:
    out_dir = tmp_path / "out"
    config = make_config(tmp_path, {"via": "file", "file_path": str(out_dir)})
    out = deliver_digest(store, config, empty_digest())
    assert out.status == "empty" and "no digest sent" in out.message
    assert not out_dir.exists() and sendlog.get(store, empty_digest().period) is None
    config = make_config(tmp_path, {"via": "file", "file_path": str(out_dir), "send_empty": True})
    assert deliver_digest(store, config, empty_digest()).status == "sent"
    assert len(list(out_dir.glob("*.eml"))) == 1


# ------------------------------------------------------------------------------ files
def test_file_delivery_writes_one_eml_and_a_resend_replaces_it(tmp_path: Path) -> None:
    config = make_config(tmp_path, {"via": "file", "file_path": str(tmp_path / "out")})
    text = to_text(build_message(sample_digest(), config, now=AS_OF))
    d = FileDeliverer(tmp_path / "out")
    d.deliver(text, mail_from="a@x", rcpt_to="a@x")
    d.deliver(text, mail_from="a@x", rcpt_to="a@x")
    files = list((tmp_path / "out").iterdir())
    assert len(files) == 1 and files[0].suffix == ".eml"
    assert files[0].read_bytes() == text.encode()
    assert files[0].stat().st_mode & 0o077 == 0


def test_maildir_delivery_goes_through_tmp_into_new_once(tmp_path: Path) -> None:
    md = tmp_path / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (md / sub).mkdir(parents=True)
    config = make_config(tmp_path, {"via": "file", "file_path": str(md)})
    text = to_text(build_message(sample_digest(), config, now=AS_OF))
    d = FileDeliverer(md)
    d.deliver(text, mail_from="a@x", rcpt_to="a@x")
    # A mail client moves it to cur/ and flags it seen; a resend must not add a copy.
    (only,) = list((md / "new").iterdir())
    only.rename(md / "cur" / (only.name + ":2,S"))
    d.deliver(text, mail_from="a@x", rcpt_to="a@x")
    assert list((md / "new").iterdir()) == [] and list((md / "tmp").iterdir()) == []
    import mailbox

    box = mailbox.Maildir(md, create=False)
    assert [m["X-Syncd-Digest"] for m in box] == ["2026-W48"]


# ------------------------------------------------------------------------------ gmail/graph
@pytest.mark.parametrize("kind", ["google", "outlook"])
def test_via_a_source_hands_the_mime_message_to_its_connector(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    import importlib

    module = importlib.import_module(f"connectors.{kind}")
    sent: list[tuple[str, EmailMessage]] = []
    monkeypatch.setattr(module, "send_message", lambda src, ctx, msg: sent.append((src.name, msg)))
    source = (
        {"type": "google"}
        if kind == "google"
        else {"type": "outlook", "client_id": "00000000-0000-0000-0000-000000000000"}
    )
    data: dict[str, Any] = {
        "me": {"name": "Ada", "emails": ["ada@example.org"], "timezone": "UTC"},
        "store": {"path": str(tmp_path / "syncd.db")},
        "sources": {"acct": source},
        "digest": {"via": "acct"},
    }
    config = parse_config(data, tmp_path / "config.toml")
    out = send_digest(store, config, sample_digest())
    assert "through" in out and "(acct)" in out
    ((name, msg),) = sent
    assert name == "acct"
    assert msg["Auto-Submitted"] == "auto-generated" and msg["X-Syncd-Digest"] == "2026-W48"
    row = sendlog.get(store, "2026-W48")
    assert row is not None and row.state == "sent" and row.message_id == msg["Message-ID"]


def test_a_failing_connector_send_leaves_the_digest_pending(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors import google

    def refuse(src: Any, ctx: Any, msg: Any) -> None:
        raise DeliveryError("acct: Gmail did not send the digest: 500")

    monkeypatch.setattr(google, "send_message", refuse)
    config = parse_config(
        {
            "me": {"emails": ["ada@example.org"], "timezone": "UTC"},
            "sources": {"acct": {"type": "google"}},
            "digest": {"via": "acct"},
        },
        tmp_path / "config.toml",
    )
    with pytest.raises(DeliveryError, match="Gmail did not send"):
        send_digest(store, config, sample_digest())
    row = sendlog.get(store, "2026-W48")
    assert row is not None and row.state == "pending"


def test_an_unexpected_client_error_becomes_a_delivery_error(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors import google

    def boom(src: Any, ctx: Any, msg: Any) -> None:
        raise ConnectionResetError("peer went away")

    monkeypatch.setattr(google, "send_message", boom)
    config = parse_config(
        {
            "me": {"emails": ["ada@example.org"], "timezone": "UTC"},
            "sources": {"acct": {"type": "google"}},
            "digest": {"via": "acct"},
        },
        tmp_path / "config.toml",
    )
    with pytest.raises(DeliveryError, match="ConnectionResetError: peer went away"):
        send_digest(store, config, sample_digest())
