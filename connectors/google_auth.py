"""Google sign-in for one source: scopes, the installed-app flow, and token storage.

Tokens are google-auth's authorized-user JSON (``Credentials.to_json()``), kept in the OS
keyring or a 0600 file through :class:`syncd.secrets.SecretStore`; the ``token_file`` key pins
the file. We build :class:`Credentials` ourselves because ``from_authorized_user_info`` always
replaces the stored ``token_uri`` with Google's (api-facts.md §4.5), which would break tests
and any deployment behind a proxy. Refreshed tokens are written back whenever they change.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from syncd.errors import NeedsReauthError, UserError

if TYPE_CHECKING:
    from google.oauth2.credentials import Credentials

    from connectors.base import SourceConfig, SourceContext

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
_P = "https://www.googleapis.com/auth/"
GMAIL_METADATA = _P + "gmail.metadata"
GMAIL_SEND = _P + "gmail.send"
CALENDAR_READONLY = _P + "calendar.readonly"
CONTACTS_READONLY = _P + "contacts.readonly"
OTHER_CONTACTS_READONLY = _P + "contacts.other.readonly"
# Never requested: Gmail enforces the metadata restrictions on a token that holds both.
GMAIL_READONLY = _P + "gmail.readonly"

# feature -> (scope, what the user loses without it)
FEATURE_SCOPES: dict[str, tuple[str, str]] = {
    "mail": (GMAIL_METADATA, "mail sync is off"),
    "calendar": (CALENDAR_READONLY, "calendar sync is off"),
    "contacts": (CONTACTS_READONLY, "contacts (names, extra addresses, birthdays) are off"),
    "other_contacts": (OTHER_CONTACTS_READONLY, "names from 'Other contacts' are off"),
    "send": (GMAIL_SEND, "sending the digest through this account is off"),
}


def wanted_scopes(options: Any) -> list[str]:
    """The scopes this source asks for, from its feature switches."""
    scopes = []
    if options.get("mail", True):
        scopes.append(GMAIL_METADATA)
    if options.get("calendar", True):
        scopes.append(CALENDAR_READONLY)
    if options.get("contacts", True):
        scopes += [CONTACTS_READONLY, OTHER_CONTACTS_READONLY]
    if options.get("send_digest", False):
        scopes.append(GMAIL_SEND)
    return scopes


def missing_features(wanted: Sequence[str], granted: Sequence[str] | None) -> list[str]:
    """One sentence per feature whose scope was asked for but not granted."""
    if granted is None:
        return []
    have = set(granted)
    return [
        f"{why} ({scope.removeprefix(_P)} was not granted)"
        for scope, why in FEATURE_SCOPES.values()
        if scope in wanted and scope not in have
    ]


def secret_key(source: SourceConfig) -> str:
    return f"google-{source.name}"


def _token_file(source: SourceConfig) -> Path | None:
    tf = source.get("token_file")
    return Path(tf).expanduser() if tf else None


def _parse_expiry(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # google-auth keeps naive UTC datetimes and writes them with a trailing "Z".
        return datetime.fromisoformat(value.rstrip("Z")).replace(tzinfo=None)
    except ValueError:
        return None


def credentials_from_info(info: dict[str, Any]) -> Credentials:
    """Credentials from authorized-user JSON, keeping its ``token_uri``."""
    from google.oauth2.credentials import Credentials

    scopes = info.get("scopes")
    if isinstance(scopes, str):
        scopes = scopes.split()
    return Credentials(
        token=info.get("token"),
        refresh_token=info.get("refresh_token"),
        token_uri=info.get("token_uri") or GOOGLE_TOKEN_URI,
        client_id=info.get("client_id"),
        client_secret=info.get("client_secret"),
        scopes=scopes,
        granted_scopes=scopes,
        expiry=_parse_expiry(info.get("expiry")),
        account=info.get("account") or "",
    )


def load_credentials(source: SourceConfig, ctx: SourceContext) -> Credentials:
    """The stored sign-in of ``source``; NeedsReauthError when there is none or it is broken."""
    where = _token_file(source)
    try:
        raw = ctx.secrets.get(secret_key(source), file=where)
    except OSError as e:
        raise NeedsReauthError(f"{source.name}: cannot read the token file {where}: {e}") from e
    if not raw:
        raise NeedsReauthError(f"{source.name}: not signed in yet; run `syncd auth {source.name}`")
    try:
        info = json.loads(raw)
        if not isinstance(info, dict) or not info.get("refresh_token"):
            raise ValueError("no refresh_token")
    except ValueError as e:
        raise NeedsReauthError(
            f"{source.name}: the stored Google token is unusable ({e}); "
            f"run `syncd auth {source.name}`"
        ) from e
    return credentials_from_info(info)


def save_credentials(source: SourceConfig, ctx: SourceContext, creds: Credentials) -> str:
    """Persist ``creds`` (keyring, or the 0600 token file); returns where they went."""
    return ctx.secrets.set(secret_key(source), creds.to_json(), file=_token_file(source))


class TokenSaver:
    """Writes the credentials back whenever google-auth refreshed them."""

    def __init__(self, source: SourceConfig, ctx: SourceContext, creds: Credentials):
        self.source, self.ctx, self.creds = source, ctx, creds
        self._saved = creds.token

    def __call__(self) -> None:
        if self.creds.token and self.creds.token != self._saved:
            save_credentials(self.source, self.ctx, self.creds)
            self._saved = self.creds.token


@contextlib.contextmanager
def _relaxed_scope_check() -> Iterator[None]:
    # Granular consent may grant fewer scopes than asked; oauthlib would raise on that.
    old = os.environ.get("OAUTHLIB_RELAX_TOKEN_SCOPE")
    os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OAUTHLIB_RELAX_TOKEN_SCOPE", None)
        else:
            os.environ["OAUTHLIB_RELAX_TOKEN_SCOPE"] = old


def authenticate(
    source: SourceConfig,
    ctx: SourceContext,
    echo: Callable[[str], None],
    *,
    open_browser: bool = True,
) -> Credentials:
    """Sign in with the browser (loopback redirect on a free port) and store the token."""
    from google_auth_oauthlib.flow import InstalledAppFlow

    secrets_path = source.get("client_secrets")
    if not secrets_path:
        raise UserError(
            f"[sources.{source.name}] client_secrets: required for `syncd auth`: the path of "
            "the OAuth client JSON you downloaded from the Google Cloud console"
        )
    secrets_path = Path(secrets_path).expanduser()
    if not secrets_path.is_file():
        raise UserError(f"[sources.{source.name}] client_secrets: no such file: {secrets_path}")
    scopes = wanted_scopes(source.options)
    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(secrets_path), scopes=scopes)
    except ValueError as e:
        raise UserError(
            f"[sources.{source.name}] client_secrets: {secrets_path} is not a desktop-app "
            f"OAuth client JSON ({e})"
        ) from e
    with _relaxed_scope_check():
        creds = flow.run_local_server(
            port=0,
            open_browser=open_browser,
            # Printed whether or not a browser opens, for headless machines.
            authorization_prompt_message=(
                "Open this URL in a browser to let syncd read your Google metadata:\n{url}\n"
                "(on another machine, forward the port first: ssh -L PORT:localhost:PORT)"
            ),
            success_message="syncd is signed in; you can close this tab.",
        )
    granted = list(creds.granted_scopes or creds.scopes or scopes)
    if GMAIL_READONLY in granted and GMAIL_METADATA in granted:
        echo(
            f"warning: this grant also holds gmail.readonly; Gmail then rejects metadata "
            f"requests. Revoke syncd at https://myaccount.google.com/permissions and run "
            f"`syncd auth {source.name}` again."
        )
    # Store what was granted, so that sync knows which features are on.
    creds = credentials_from_info({**json.loads(creds.to_json()), "scopes": granted})
    where = save_credentials(source, ctx, creds)
    echo(f"{source.name}: signed in; token stored in {where}")
    for problem in missing_features(scopes, granted):
        echo(f"{source.name}: {problem}; run `syncd auth {source.name}` to grant it")
    if not creds.refresh_token:
        echo(
            "warning: Google returned no refresh token; revoke syncd's access at "
            "https://myaccount.google.com/permissions and sign in again"
        )
    return creds
