"""Deliver the digest, exactly once per period: the Deliverer seam and its transports.

``[digest] via`` picks the transport:

- ``smtp``: submission with STARTTLS (587) or implicit TLS (465), certificates verified with
  ``ssl.create_default_context()`` (plus ``[smtp] ca_file``), the password from
  ``password_env`` / ``password_command`` / the keyring (syncd.secrets.resolve_password);
- ``file``: an ``.eml`` file in ``[digest] file_path``, or a message in it when it is a Maildir;
- the NAME of a google or outlook source: that connector's ``send_message(source, ctx, msg)``
  (Gmail ``messages.send`` / Graph ``sendMail`` in MIME mode, so every header survives).

:func:`deliver_digest` wraps a transport in the exactly-once protocol of syncd.sendlog.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import signal
import smtplib
import socket
import ssl
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from syncd import sendlog
from syncd.config import Config, SmtpSettings
from syncd.digest_model import Digest
from syncd.errors import DeliveryError, SyncdError, UserError
from syncd.mime import build_message, from_text, recipient, sender, to_text
from syncd.secrets import resolve_password, write_private
from syncd.store import Store

log = logging.getLogger(__name__)

# Test-only: make the process SIGKILL itself at a named point of the send protocol
# ("after-pending", "after-send"), so tests can prove a crash never sends two digests.
CRASH_ENV = "SYNCD_TEST_CRASH_AT"


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        log.warning("test hook %s=%s: killing this process", CRASH_ENV, name)
        os.kill(os.getpid(), signal.SIGKILL)


class Deliverer(Protocol):
    """One way to hand a finished message to the user's mailbox."""

    def deliver(self, message: str, *, mail_from: str, rcpt_to: str) -> str:
        """Send the exact MIME text ``message``; return a short description of where it went.
        Raises DeliveryError when it could not be handed over."""
        ...


# ------------------------------------------------------------------------------------- smtp
def _is_loopback(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    # Never smtplib's default (context=None): it does not verify certificates.
    ctx = ssl.create_default_context()
    if ca_file:
        try:
            ctx.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as e:
            raise UserError(f"[smtp] ca_file: cannot load {ca_file}: {e}") from None
    return ctx


class SmtpDeliverer:
    def __init__(self, settings: SmtpSettings):
        self.s = settings

    def _connect(self) -> smtplib.SMTP:
        s = self.s
        if s.security == "tls":
            return smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=tls_context(s.ca_file)
            )
        conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        if s.security == "starttls":
            conn.ehlo()
            if not conn.has_extn("starttls"):
                conn.quit()
                raise DeliveryError(
                    f"[smtp] {s.host}:{s.port} does not offer STARTTLS; refusing to send the "
                    'password and digest in clear (use security = "tls" on port 465?)'
                )
            conn.starttls(context=tls_context(s.ca_file))
            conn.ehlo()
        return conn

    def deliver(self, message: str, *, mail_from: str, rcpt_to: str) -> str:
        s = self.s
        if s.security == "none" and not _is_loopback(s.host):
            raise UserError(
                f'[smtp] security = "none" is only allowed to a loopback address, not {s.host}'
            )
        password = resolve_password(s.options, "[smtp]", "smtp") if s.username else None
        where = f"{s.host}:{s.port}"
        try:
            with self._connect() as conn:
                if s.username and password is not None:
                    conn.login(s.username, password)
                conn.sendmail(mail_from, [rcpt_to], message.encode("ascii"))
        except ssl.SSLCertVerificationError as e:
            raise DeliveryError(
                f"SMTP {where}: certificate not trusted ({e.verify_message}); nothing sent "
                "(set [smtp] ca_file for a private CA)"
            ) from None
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError(f"SMTP {where}: login refused for {s.username}: {e}") from None
        except smtplib.SMTPRecipientsRefused as e:
            raise DeliveryError(f"SMTP {where}: recipient {rcpt_to} refused: {e}") from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as e:
            raise DeliveryError(f"SMTP {where}: {type(e).__name__}: {e}") from None
        return f"by SMTP to {rcpt_to} via {where}"


# ------------------------------------------------------------------------------------- file
def _maildir(folder: Path) -> bool:
    return all((folder / d).is_dir() for d in ("cur", "new", "tmp"))


class FileDeliverer:
    """A folder of ``.eml`` files, or a Maildir (tmp/ then new/, as the format requires).

    The file name derives from the Message-ID, so a resend after a crash replaces the same
    file (or finds the message already in the Maildir) instead of adding a copy.
    """

    def __init__(self, folder: Path):
        self.folder = folder

    def deliver(self, message: str, *, mail_from: str, rcpt_to: str) -> str:
        mid = from_text(message)["Message-ID"] or message
        tag = hashlib.sha1(str(mid).encode()).hexdigest()[:16]
        period = str(from_text(message)["X-Syncd-Digest"] or "digest")
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if _maildir(self.folder):
                return self._maildir(message, tag)
            path = self.folder / f"syncd-{period}-{tag}.eml"
            write_private(path, message)
        except OSError as e:
            raise DeliveryError(f"[digest] file_path: cannot write to {self.folder}: {e}") from None
        return f"to {path}"

    def _maildir(self, message: str, tag: str) -> str:
        for sub in ("new", "cur"):
            for p in (self.folder / sub).iterdir():
                if f".syncd-{tag}" in p.name:
                    return f"to Maildir {self.folder} (already there: {p.name})"
        name = f"{int(datetime.now().timestamp())}.P{os.getpid()}.syncd-{tag}"
        tmp = self.folder / "tmp" / name
        write_private(tmp, message)
        os.replace(tmp, self.folder / "new" / name)
        return f"to Maildir {self.folder}"


# ----------------------------------------------------------------------- google / outlook
class ConnectorDeliverer:
    """Send through a google or outlook source: its module's ``send_message``."""

    def __init__(self, config: Config, source_name: str):
        self.config = config
        self.source = config.sources[source_name]

    def deliver(self, message: str, *, mail_from: str, rcpt_to: str) -> str:
        from connectors.base import load
        from syncd.sync import make_context

        try:
            module = load(self.source.type)
        except ImportError as e:
            raise DeliveryError(
                f"[digest] via = {self.source.name!r}: the {self.source.type} connector cannot "
                f"be loaded: {e}"
            ) from None
        send = getattr(module, "send_message", None)
        if send is None:
            raise DeliveryError(
                f"[digest] via = {self.source.name!r}: the {self.source.type} connector cannot "
                'send mail yet; use via = "smtp"'
            )
        try:
            send(self.source, make_context(self.config, self.source), from_text(message))
        except SyncdError:
            raise
        except Exception as e:  # a client library's own error: one line, not a traceback
            raise DeliveryError(
                f"sending the digest through {self.source.name} failed: {type(e).__name__}: {e}"
            ) from e
        api = "the Gmail API" if self.source.type == "google" else "Microsoft Graph"
        return f"to {rcpt_to} through {api} ({self.source.name})"


def deliverer_for(config: Config) -> Deliverer:
    via = config.digest.via
    if via == "smtp":
        if config.smtp is None:
            raise UserError('[digest] via = "smtp" needs an [smtp] table with at least host')
        return SmtpDeliverer(config.smtp)
    if via == "file":
        if config.digest.file_path is None:
            raise UserError('[digest] via = "file" needs [digest] file_path (a folder)')
        return FileDeliverer(config.digest.file_path)
    if via in config.sources:
        return ConnectorDeliverer(config, via)
    raise UserError(f"[digest] via: {via!r} is neither smtp, file, nor a configured source")


# ------------------------------------------------------------------------- exactly once
@dataclass(frozen=True)
class SendOutcome:
    period: str
    status: str  # sent | resent | already_sent | empty
    message: str
    message_id: str | None = None

    def __str__(self) -> str:
        return self.message


def _lock_wait(config: Config) -> float:
    return float(config.smtp.timeout if config.smtp else 60) * 2 + 30


def deliver_digest(
    store: Store,
    config: Config,
    digest: Digest,
    *,
    force: bool = False,
    period: str | None = None,
    deliverer: Deliverer | None = None,
    now: datetime | None = None,
) -> SendOutcome:
    """Send ``digest`` as the one digest of ``period`` (default: the digest's own).

    Resends a message left in doubt by a crash as stored (same Message-ID); sends nothing
    when the period's digest went out already (unless ``force``) or when the digest is empty
    (unless ``[digest] send_empty`` or ``force``). Raises DeliveryError when sending failed;
    the row stays pending and the next attempt resends the same message.
    """
    period = period or digest.period
    if period != digest.period:
        digest = replace(digest, period=period)
    deliverer = deliverer or deliverer_for(config)
    mail_from, rcpt_to = sender(config), recipient(config)
    with sendlog.send_lock(store, _lock_wait(config)):
        row = sendlog.get(store, period)
        if row and row.state == sendlog.SENT and not force:
            when = (
                f"{row.sent_at.astimezone(ZoneInfo(config.me.timezone)):%Y-%m-%d %H:%M %Z}"
                if row.sent_at
                else "earlier"
            )
            return SendOutcome(
                period,
                "already_sent",
                f"The digest for {period} was already sent ({when}, {row.message_id}); "
                "nothing sent. Use --send --force to send it again.",
                row.message_id,
            )
        if row and row.state == sendlog.PENDING and not force:
            # A send left in doubt: the server may have it already. Same bytes, same
            # Message-ID, so the reader sees one digest either way.
            sendlog.retry_pending(store, period)
            record = row
            status = "resent"
        else:
            if digest.is_empty and not config.digest.send_empty and not force:
                return SendOutcome(
                    period,
                    "empty",
                    f"Nothing to say for {period} (nobody overdue, no reply waiting, no "
                    "birthday): no digest sent. Set [digest] send_empty = true to get one anyway.",
                )
            msg = build_message(digest, config, now=now)
            people = [p.emails[0] for p in digest.people]
            record = sendlog.reserve(
                store, period, str(msg["Message-ID"]), to_text(msg), people, replace=True
            )
            status = "sent"
        _crash_point("after-pending")
        where = deliverer.deliver(record.message, mail_from=mail_from, rcpt_to=rcpt_to)
        _crash_point("after-send")
        sendlog.mark_sent(store, period, record.message_id)
    verb = "Resent the digest left in doubt" if status == "resent" else "Sent the digest"
    return SendOutcome(period, status, f"{verb} for {period} {where}.", record.message_id)


def send_digest(store: Store, config: Config, digest: Digest, *, force: bool = False) -> str:
    """``syncd digest --send [--force]``: what happened, in one line."""
    return str(deliver_digest(store, config, digest, force=force))
