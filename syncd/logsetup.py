"""Logging for ``syncd run``: one line per record on stderr, in the form journald and launchd
expect. Only the CLI calls :func:`configure_logging`; every other module just logs."""

from __future__ import annotations

import logging
import os
import sys

_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class JournalFormatter(logging.Formatter):
    """No timestamps (journald and launchd add their own). Under systemd (JOURNAL_STREAM is
    set) each line starts with the sd-daemon ``<N>`` priority; in a terminal, ``level: ``."""

    def __init__(self, journal: bool):
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.name.startswith("syncd.connectors") or not record.name.startswith("syncd"):
            text = f"{record.name}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if self.journal:
            prefix = f"<{_PRIORITY.get(record.levelname, 6)}>"
            return "\n".join(prefix + line for line in text.splitlines())
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return text


def configure_logging(verbose: int = 0) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter(journal="JOURNAL_STREAM" in os.environ))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
    if verbose < 2:  # client libraries are chatty at INFO
        for noisy in ("googleapiclient", "urllib3", "msal", "caldav", "imapclient", "mail.log"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
