"""A real Radicale (from PyPI) on 127.0.0.1 over verified TLS, one per test session.

Traps (DESIGN.md "How we test"): ``[auth] type`` must be set (htpasswd here, plain text) and
``delay = 0``, or every client's first request waits a second. Each test gets its own user.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .net import free_port, wait_for_port
from .tls import TestPKI, make_pki

_CONFIG = """\
[server]
hosts = 127.0.0.1:{port}
ssl = True
certificate = {pki.cert_file}
key = {pki.key_file}

[auth]
type = htpasswd
htpasswd_filename = {run}/users
htpasswd_encryption = plain
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {run}/collections

[logging]
level = warning
"""


@dataclass
class DavUser:
    name: str
    password: str


class Radicale:
    def __init__(self, users: int = 100) -> None:
        self.run = Path(tempfile.mkdtemp(prefix="syncd-radicale-", dir="/var/tmp"))
        self.pki: TestPKI = make_pki(self.run / "tls")
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}/"
        self._free_users = [DavUser(f"user{i}", f"pass word {i}") for i in range(1, users + 1)]
        (self.run / "users").write_text(
            "".join(f"{u.name}:{u.password}\n" for u in self._free_users)
        )
        self.config = self.run / "radicale.conf"
        self.config.write_text(_CONFIG.format(run=self.run, port=self.port, pki=self.pki))
        self.log_file = (self.run / "radicale.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(self.config)],
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port("127.0.0.1", self.port, timeout=20)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"radicale did not start:\n{self.log()}") from None

    def add_user(self) -> DavUser:
        try:
            return self._free_users.pop(0)
        except IndexError:
            raise RuntimeError("out of test users: raise Radicale(users=...)") from None

    def log(self) -> str:
        path = self.run / "radicale.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        shutil.rmtree(self.run, ignore_errors=True)
