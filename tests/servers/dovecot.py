"""A real Dovecot (Debian's dovecot-imapd) in the foreground with its own small config.

Traps this works around (see DESIGN.md "How we test"): Dovecot's login processes run as an
unprivileged user, so the run directory must be 0755 and outside pytest's 0700 temp root;
the mail and auth settings come from our config only (``-c FILE``), never /etc/dovecot.
Each test gets its own user (the passwd-file is re-read when it changes), so tests share
one server without seeing each other's mail.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .net import free_port, wait_for_port
from .tls import TestPKI, make_pki

DOVECOT = shutil.which("dovecot") or next(
    (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None
)
DOVEADM = shutil.which("doveadm") or (
    os.path.join(os.path.dirname(DOVECOT), "..", "bin", "doveadm") if DOVECOT else None
)

_CONFIG = """\
base_dir = {run}/base
state_dir = {run}/state
instance_name = syncd-test-{port}
log_path = {run}/dovecot.log
protocols = imap
listen = 127.0.0.1, 127.0.0.2, 127.0.0.3
ssl = yes
ssl_cert = <{pki.cert_file}
ssl_key = <{pki.key_file}
# A second address serves a certificate from a CA the client does not trust.
local 127.0.0.2 {{
  ssl_cert = <{pki.rogue_cert_file}
  ssl_key = <{pki.rogue_key_file}
}}
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
auth_failure_delay = 0
default_internal_user = {internal_user}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
{oauth2_passdb}passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {run}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {run}/passwd
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = create
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = create
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
}}
mail_plugins =
# A third address plays an older server: no CONDSTORE/QRESYNC, no SPECIAL-USE.
local 127.0.0.3 {{
  protocol imap {{
    imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS UNSELECT
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = {ssl_port}
    ssl = yes
  }}
}}
# Tests log in with wrong passwords on purpose: an unreachable anvil-auth-penalty socket turns
# off the per-IP penalty that would delay the next login from 127.0.0.1 by seconds.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


# With ``oauth2_introspection_url``: XOAUTH2/OAUTHBEARER logins are checked by POSTing the
# token to that URL (RFC 7662 style); PLAIN/LOGIN still use the passwd-file.
_OAUTH2_PASSDB = """\
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {run}/oauth2.conf
}}
"""
_OAUTH2_CONF = """\
introspection_url = {url}
introspection_mode = post
username_attribute = username
active_attribute = active
active_value = true
"""


@dataclass
class ImapUser:
    name: str
    password: str


class Dovecot:
    """One running Dovecot; ``port`` speaks plain IMAP + STARTTLS, ``ssl_port`` implicit TLS."""

    def __init__(self, users: int = 100, oauth2_introspection_url: str | None = None) -> None:
        if DOVECOT is None:
            raise RuntimeError("dovecot is not installed")
        # Outside pytest's 0700 temp root: Dovecot's unprivileged processes must reach it.
        self.run = Path(tempfile.mkdtemp(prefix="syncd-dovecot-", dir="/var/tmp"))
        self.run.chmod(0o755)
        self.pki: TestPKI = make_pki(self.run / "tls")
        self.port = free_port()
        self.ssl_port = free_port()
        self.host = "127.0.0.1"
        self.rogue_host = "127.0.0.2"  # serves a certificate from an untrusted CA
        self.basic_host = "127.0.0.3"  # advertises no CONDSTORE, QRESYNC or SPECIAL-USE
        root = os.getuid() == 0
        # passwd-file refuses UID 0: as root, mail belongs to "nobody".
        self.uid, self.gid = uid, gid = _mail_owner()
        # Users are made up front: Dovecot notices a changed passwd-file only by its mtime,
        # which is too coarse for tests that add users within the same second.
        (self.run / "home").mkdir(mode=0o755)
        self._free_users = [self._make_user(i) for i in range(1, users + 1)]
        self.config = self.run / "dovecot.conf"
        if oauth2_introspection_url:
            (self.run / "oauth2.conf").write_text(_OAUTH2_CONF.format(url=oauth2_introspection_url))
        self.config.write_text(
            _CONFIG.format(
                run=self.run,
                pki=self.pki,
                port=self.port,
                ssl_port=self.ssl_port,
                uid=uid,
                gid=gid,
                internal_user="dovecot" if root else _username(),
                login_user="dovenull" if root else _username(),
                oauth2_mechanisms=" xoauth2 oauthbearer" if oauth2_introspection_url else "",
                oauth2_passdb=_OAUTH2_PASSDB.format(run=self.run)
                if oauth2_introspection_url
                else "",
            )
        )
        self.proc = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.host, self.port)
            wait_for_port(self.host, self.ssl_port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"dovecot did not start:\n{self.log()}") from None

    def _make_user(self, i: int) -> ImapUser:
        name = f"user{i}@test.example"
        password = f"pass word {i}"
        home = self.run / "home" / name
        home.mkdir(mode=0o755)
        os.chown(home, self.uid, self.gid)
        with (self.run / "passwd").open("a") as f:
            f.write(f"{name}:{{PLAIN}}{password}:{self.uid}:{self.gid}::{home}::\n")
        (self.run / "passwd").chmod(0o644)
        return ImapUser(name, password)

    def log(self) -> str:
        path = self.run / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def add_user(self) -> ImapUser:
        """A fresh mailbox owner (created with the server: the passwd-file is read at start)."""
        try:
            return self._free_users.pop(0)
        except IndexError:
            raise RuntimeError("out of test users: raise Dovecot(users=...)") from None

    def doveadm(self, *args: str) -> str:
        out = subprocess.run(
            [str(DOVEADM), "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.run, ignore_errors=True)


def _mail_owner() -> tuple[int, int]:
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    import pwd

    nobody = pwd.getpwnam("nobody")
    return nobody.pw_uid, nobody.pw_gid


def _username() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name
