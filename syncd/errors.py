"""Every error syncd raises on purpose, under one base.

    SyncdError
    ├── UserError            bad config or input: one clear message, exit status 2
    │   └── ConfigError      the config file (lists every problem at once)
    ├── SourceError          a source could not be read at all (exit status 1)
    │   ├── NeedsReauthError its credentials were revoked or expired: `syncd auth NAME`
    │   ├── CursorExpiredError its stored cursor is no longer valid: one full resync
    │   └── RetriesExhaustedError the server kept refusing; the cursor stays where it was
    ├── DeliveryError        the digest could not be sent
    └── StoreError           the store cannot be opened, read or written (exit status 1)
        └── StoreBusyError   another process held the write lock past the wait

The CLI turns each of these into a one-line message; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

from collections.abc import Sequence


class SyncdError(Exception):
    """Base class of every error syncd raises on purpose."""


class UserError(SyncdError):
    """Bad input from the user: printed without a traceback, exit status 2."""

    exit_code = 2


class ConfigError(UserError):
    """One or more problems in a config file, all reported together."""

    def __init__(self, path: str, problems: Sequence[str]):
        self.path = path
        self.problems = list(problems)
        if len(self.problems) == 1:
            msg = f"{path}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            msg = f"{path}: {len(self.problems)} problems:\n{lines}"
        super().__init__(msg)


class SourceError(SyncdError):
    """A source could not be read at all."""

    exit_code = 1


class NeedsReauthError(SourceError):
    """The source's credentials were refused; the user must run `syncd auth NAME`."""


class CursorExpiredError(SourceError):
    """The stored cursor is no longer accepted by the server (Gmail 404, Graph 410, ...)."""


class RetriesExhaustedError(SourceError):
    """Throttling or server errors outlasted every retry; nothing was lost."""


class DeliveryError(SyncdError):
    """The digest could not be delivered."""

    exit_code = 1


class StoreError(SyncdError):
    """The store cannot be opened, read or written: the message says what to do."""

    exit_code = 1


class StoreBusyError(StoreError):
    """Another process held the store's write lock for longer than this one would wait.

    Nothing was written. ``holder`` describes who held it, when known (filled in by whoever
    can tell, e.g. a lock that records its pid)."""

    def __init__(self, path: str, waited: float, holder: str | None = None):
        self.path = path
        self.waited = waited
        self.holder = holder
        who = holder or "another syncd process"
        super().__init__(
            f"the store {path} is busy: {who} kept it locked for over {waited:g} s; "
            "nothing was written, try again later"
        )
