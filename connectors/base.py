"""The connector protocol: how a source hands its facts to syncd.

Terminology:
- A **source** is one ``[sources.NAME]`` table of the config; its ``type`` names the connector
  module (``connectors/<type>.py``).
- A **connector** normalizes what a source holds into :class:`syncd.models.Batch` objects. It
  never writes to the store and never decides what counts as contact.
- A **cursor** is the connector's own JSON-serializable state (history ids, delta links, file
  offsets). The engine stores it in the same transaction as the batch that carries it, so a
  crash resumes from the last stored batch, and replaying a batch is harmless.

Each connector module provides:

``OPTIONS: dict[str, Option]``
    the keys of its ``[sources.NAME]`` table (besides the common ones in ``COMMON_OPTIONS``);
``open(source: SourceConfig, ctx: SourceContext) -> Connector``
    builds a connector; importing heavy client libraries happens here, not at module import,
    so that msal is needed only when an Outlook source exists.
and optionally ``authenticate(source, ctx, echo)`` for ``syncd auth NAME``.

``fetch(cursor)`` yields batches. When the server refuses the cursor (Gmail 404, Graph 410,
People EXPIRED_SYNC_TOKEN, IMAP UIDVALIDITY change) the connector performs one full resync of
the affected scope itself, bracketed by ``Batch.full_sync_start`` / ``full_sync_end`` so that the
engine can sweep what vanished; it never loops. Revoked credentials raise
:class:`syncd.errors.NeedsReauthError`; throttling that outlasts the retries raises
:class:`syncd.errors.RetriesExhaustedError` (the cursor stays where it was).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol, runtime_checkable

from syncd.models import Batch
from syncd.options import Option, boolean, choice, duration
from syncd.secrets import SecretStore


@runtime_checkable
class Connector(Protocol):
    def fetch(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        """Yield batches from ``cursor`` (None: first sync) until the source is caught up."""
        ...


@dataclass(frozen=True)
class SourceConfig:
    name: str
    type: str
    options: Mapping[str, Any]  # validated against the connector's OPTIONS + COMMON_OPTIONS

    def __getitem__(self, key: str) -> Any:
        return self.options[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)


@dataclass
class SourceContext:
    """What a connector may use from its surroundings (injected, so tests can replace it)."""

    name: str
    state_dir: Path  # where token files live when no keyring is available
    secrets: SecretStore
    me_emails: tuple[str, ...] = ()
    timezone: str = "UTC"  # the user's IANA zone: floating calendar times are read in it
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("syncd.connectors"))


COMMON_OPTIONS: dict[str, Option] = {
    "type": Option(
        choice("mbox", "ics", "google", "outlook", "imap", "caldav", "vcard"),
        help="Which connector reads this source.",
    ),
    "enabled": Option(boolean, True, "Set to false to keep a source in the config but skip it."),
    "interval": Option(duration, duration("15m"), "How often `syncd run` syncs this source."),
}

# type -> module; imported lazily so that a missing optional client library only matters to
# the sources that use it.
TYPES: dict[str, str] = {
    "mbox": "connectors.mbox",
    "ics": "connectors.ics",
    "google": "connectors.google",
    "outlook": "connectors.outlook",
    "imap": "connectors.imap",
    "caldav": "connectors.caldav",
    "vcard": "connectors.vcard",
}


def load(type_name: str) -> ModuleType:
    """The connector module for ``type_name`` (KeyError for an unknown type)."""
    return importlib.import_module(TYPES[type_name])


def options_for(type_name: str) -> dict[str, Option]:
    """The full option spec of a source type: the common keys plus the connector's own."""
    try:
        module = load(type_name)
    except ModuleNotFoundError:
        module = None
    own: dict[str, Option] = getattr(module, "OPTIONS", {}) if module else {}
    return {**COMMON_OPTIONS, **own}
