"""Session fixtures for the real servers, shared by every test module that names this plugin
(``pytest_plugins = ["tests.servers.fixtures"]``): one Dovecot and one Radicale per session,
however many modules use them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .dovecot import DOVECOT, Dovecot
from .radicale import Radicale


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    if DOVECOT is None:
        pytest.skip("dovecot is not installed (apt dovecot-imapd)")
    server = Dovecot()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def radicale() -> Iterator[Radicale]:
    server = Radicale()
    yield server
    server.stop()
