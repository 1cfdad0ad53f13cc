"""Signing in (the real installed-app flow against the fake), tokens, scopes, sending."""

from __future__ import annotations

import json
import threading
import webbrowser
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from fakes.google_harness import ME, make_ctx, make_source, write_token
from fakes.google_server import FakeClock, FakeGoogle, MiniStore
from fakes.google_state import (
    ALL_SCOPES,
    CALENDAR_READONLY,
    CONTACTS_READONLY,
    GMAIL_METADATA,
    GMAIL_SEND,
    OTHER_CONTACTS_READONLY,
)

from connectors import google
from connectors.google_auth import credentials_from_info, load_credentials, wanted_scopes
from syncd.errors import DeliveryError, NeedsReauthError, UserError


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock):
    with FakeGoogle(clock=clock) as f:
        f.add_user(ME)
        f.auth_user = ME
        yield f


class ClickingBrowser:
    """Stands in for the user's browser: follows the consent URL in a thread."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def open(self, url: str, new: int = 0, autoraise: bool = True) -> bool:
        self.urls.append(url)
        threading.Thread(target=requests.get, args=(url,), kwargs={"timeout": 10}).start()
        return True


@pytest.fixture
def browser(monkeypatch) -> ClickingBrowser:
    b = ClickingBrowser()
    monkeypatch.setattr(webbrowser, "get", lambda *a, **k: b)
    # The fake's endpoints are plain http on loopback.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    return b


def client_secrets(fake: FakeGoogle, tmp_path: Path) -> Path:
    path = tmp_path / "client_secret.json"
    path.write_text(
        json.dumps(
            {
                "installed": {
                    "client_id": "fake-client.apps.googleusercontent.com",
                    "client_secret": "fake-secret",
                    "auth_uri": fake.url + "auth",
                    "token_uri": fake.url + "token",
                    "redirect_uris": ["http://localhost"],
                }
            }
        )
    )
    return path


def test_auth_signs_in_through_the_browser_and_stores_a_private_token(
    fake, tmp_path, clock, browser, capsys
):
    source = make_source(fake, tmp_path, client_secrets=str(client_secrets(fake, tmp_path)))
    lines: list[str] = []
    google.authenticate(source, make_ctx(tmp_path, clock), lines.append)

    (url,) = browser.urls
    assert url.startswith(fake.url + "auth?")
    assert "access_type=offline" in url and "code_challenge=" in url
    asked = set(requests.utils.unquote(url.split("scope=")[1].split("&")[0]).split("+"))
    assert asked == {GMAIL_METADATA, CALENDAR_READONLY, CONTACTS_READONLY, OTHER_CONTACTS_READONLY}
    assert url in capsys.readouterr().out  # printed too, for a headless machine
    token = Path(source["token_file"])
    assert token.stat().st_mode & 0o777 == 0o600
    saved = json.loads(token.read_text())
    assert saved["token_uri"] == fake.url + "token" and saved["refresh_token"]
    assert lines == [f"personal: signed in; token stored in {token}"]
    # And the stored sign-in works for a sync.
    store = MiniStore()
    store.sync(google.open(source, make_ctx(tmp_path, clock)))
    assert store.account == ME


def test_auth_says_which_feature_is_off_when_a_scope_is_refused(
    fake, tmp_path, clock, browser, caplog
):
    fake.deny_scopes = {CALENDAR_READONLY}
    source = make_source(fake, tmp_path, client_secrets=str(client_secrets(fake, tmp_path)))
    lines: list[str] = []
    google.authenticate(source, make_ctx(tmp_path, clock), lines.append)
    assert any("calendar sync is off (calendar.readonly was not granted)" in x for x in lines)
    # Sync goes on with what was granted, and says what is off.
    fake.users[ME].add_calendar(ME, primary=True)
    store = MiniStore()
    store.sync(google.open(source, make_ctx(tmp_path, clock)))
    assert not [r for r in fake.requests if r.path.startswith("/calendar/")]
    assert "calendar sync is off" in caplog.text


def test_send_digest_adds_gmail_send_and_never_gmail_readonly(fake, tmp_path):
    scopes = wanted_scopes({"send_digest": True})
    assert GMAIL_SEND in scopes and GMAIL_METADATA in scopes
    assert not any(s.endswith("gmail.readonly") for s in scopes)
    assert wanted_scopes({"mail": False, "contacts": False}) == [CALENDAR_READONLY]


def test_auth_without_client_secrets_names_the_key(fake, tmp_path, clock):
    source = make_source(fake, tmp_path)
    with pytest.raises(UserError, match="client_secrets"):
        google.authenticate(source, make_ctx(tmp_path, clock), print)


def test_a_missing_or_broken_token_asks_for_auth(fake, tmp_path, clock):
    source = make_source(fake, tmp_path)
    with pytest.raises(NeedsReauthError, match="syncd auth personal"):
        load_credentials(source, make_ctx(tmp_path, clock))
    Path(source["token_file"]).write_text("{not json")
    with pytest.raises(NeedsReauthError, match="unusable"):
        load_credentials(source, make_ctx(tmp_path, clock))


def test_tokens_live_in_the_secret_store_without_a_token_file(fake, tmp_path, clock):
    ctx = make_ctx(tmp_path, clock)
    source = make_source(fake, tmp_path)
    source = type(source)(source.name, source.type, {**source.options, "token_file": None})
    ctx.secrets.set("google-personal", json.dumps(fake.token_json(ME)))
    creds = load_credentials(source, ctx)
    assert creds.token_uri == fake.url + "token"
    store = MiniStore()
    store.sync(google.open(source, ctx))
    saved = json.loads(ctx.secrets.get("google-personal"))
    assert saved["token"] in fake.access_tokens  # the refreshed token went back


def test_stored_token_uri_is_honoured():
    creds = credentials_from_info(
        {"refresh_token": "r", "token_uri": "http://127.0.0.1:1/token", "client_id": "c"}
    )
    assert creds.token_uri == "http://127.0.0.1:1/token"


def digest() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = ME
    msg["To"] = ME
    msg["Subject"] = "Your week"
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content("Three people to write to.")
    return msg


def test_send_message_sends_the_raw_mime_through_gmail(fake, tmp_path, clock):
    import base64

    source = make_source(fake, tmp_path, send_digest=True)
    write_token(fake, source, ALL_SCOPES)
    gmail_id = google.send_message(source, make_ctx(tmp_path, clock), digest())
    assert gmail_id == "sent1"
    (raw,) = fake.users[ME].mailbox.sent
    sent = base64.urlsafe_b64decode(raw).decode()
    assert "Auto-Submitted: auto-generated" in sent and "Three people" in sent


def test_send_message_without_the_send_scope_says_how_to_fix_it(fake, tmp_path, clock):
    source = make_source(fake, tmp_path)
    write_token(fake, source, (GMAIL_METADATA,))
    with pytest.raises(DeliveryError, match="send_digest = true"):
        google.send_message(source, make_ctx(tmp_path, clock), digest())
    assert fake.users[ME].mailbox.sent == []


def test_send_message_does_not_resend_after_a_server_error(fake, tmp_path, clock):
    from fakes.google_server import Fault

    source = make_source(fake, tmp_path, send_digest=True)
    write_token(fake, source, ALL_SCOPES)
    fake.faults.append(Fault("/messages/send", status=503, times=5))
    with pytest.raises(DeliveryError):
        google.send_message(source, make_ctx(tmp_path, clock), digest())
    assert len([r for r in fake.requests if r.path.endswith("/send")]) == 1
