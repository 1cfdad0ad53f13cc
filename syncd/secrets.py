"""Tokens and passwords: the OS keyring when there is one, else owner-only files.

A headless Linux machine (and CI) usually has no keyring backend, and ``keyring`` raises
``NoKeyringError``: we fall back to a 0600 file under the state directory and say so once.
Passwords are never required in the config file: ``password_env`` names an environment
variable, ``password_command`` a command that prints it (``["pass", "show", "smtp"]``), and
otherwise the keyring entry ``syncd`` / ``<source name>`` is tried.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from syncd.errors import UserError
from syncd.options import Option, string, string_list

log = logging.getLogger(__name__)

KEYRING_SERVICE = "syncd"

# The keys by which a config table points at its password (read by resolve_password).
PASSWORD_OPTIONS: dict[str, Option] = {
    "password_env": Option(string, None, "Environment variable that holds the password."),
    "password_command": Option(string_list, None, "Command that prints the password."),
}
_warned_no_keyring = False


def _keyring() -> Any | None:
    """The keyring module if a usable backend exists, else None (warned about once)."""
    global _warned_no_keyring
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or backend.priority <= 0:
            raise RuntimeError("no keyring backend")
        return keyring
    except Exception:
        if not _warned_no_keyring:
            log.info("no OS keyring available: secrets are kept in owner-only (0600) files")
            _warned_no_keyring = True
        return None


def write_private(path: Path, data: str) -> None:
    """Write ``data`` so that only the owner can ever read it, atomically and durably."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class SecretStore:
    """Named secrets (OAuth token JSON, msal caches) in the keyring or in 0600 files."""

    def __init__(self, state_dir: Path, *, use_keyring: bool = True):
        self.state_dir = state_dir
        self.use_keyring = use_keyring

    def _file(self, key: str) -> Path:
        return self.state_dir / "secrets" / f"{key}.json"

    def get(self, key: str, *, file: Path | None = None) -> str | None:
        """The secret ``key``; ``file`` pins it to that path (the ``token_file`` config key)."""
        if file is not None:
            return file.read_text() if file.exists() else None
        kr = _keyring() if self.use_keyring else None
        if kr is not None:
            value = kr.get_password(KEYRING_SERVICE, key)
            if value is not None:
                return str(value)
        f = self._file(key)
        return f.read_text() if f.exists() else None

    def set(self, key: str, value: str, *, file: Path | None = None) -> str:
        """Store the secret; returns where it went (for the user's information)."""
        if file is not None:
            write_private(file, value)
            return str(file)
        kr = _keyring() if self.use_keyring else None
        if kr is not None:
            kr.set_password(KEYRING_SERVICE, key, value)
            return "the OS keyring"
        f = self._file(key)
        write_private(f, value)
        return str(f)

    def delete(self, key: str, *, file: Path | None = None) -> None:
        if file is not None:
            file.unlink(missing_ok=True)
            return
        kr = _keyring() if self.use_keyring else None
        if kr is not None:
            with contextlib.suppress(Exception):
                kr.delete_password(KEYRING_SERVICE, key)
        self._file(key).unlink(missing_ok=True)


def resolve_password(
    options: Mapping[str, Any],
    where: str,
    keyring_key: str,
    *,
    env: Mapping[str, str] | None = None,
) -> str:
    """The password a ``[sources.NAME]`` or ``[smtp]`` table points at.

    Tries ``password_env``, then ``password_command``, then the keyring entry ``keyring_key``.
    Raises UserError naming the key when none of them yields a password.
    """
    env = os.environ if env is None else env
    var = options.get("password_env")
    if var:
        value = env.get(var)
        if value:
            return value
        raise UserError(f"{where} password_env: environment variable {var} is not set")
    cmd: Sequence[str] | None = options.get("password_command")
    if cmd:
        try:
            out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise UserError(f"{where} password_command: could not run {cmd[0]!r}: {e}") from e
        if out.returncode != 0:
            raise UserError(
                f"{where} password_command: {cmd[0]!r} exited with status {out.returncode}"
            )
        value = out.stdout.rstrip("\r\n")
        if not value:
            raise UserError(f"{where} password_command: {cmd[0]!r} printed nothing")
        return value
    kr = _keyring()
    if kr is not None:
        value = kr.get_password(KEYRING_SERVICE, keyring_key)
        if value:
            return str(value)
    raise UserError(
        f"{where}: no password: set password_env or password_command, or store one with "
        f"`keyring set {KEYRING_SERVICE} {keyring_key}`"
    )
