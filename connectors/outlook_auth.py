"""Signing in to Microsoft with msal: the device code flow once, silent tokens afterwards.

The user registers their own app (a public client with "Allow public client flows" on) and puts
its ``client_id`` in the config; syncd never borrows another application's id. msal keeps the
tokens in a SerializableTokenCache that we persist through syncd.secrets.SecretStore (the OS
keyring, or a 0600 file) every time msal says it changed: refresh tokens rotate on use
(api-facts §6.2), so a cache that is not saved after a refresh goes stale.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.base import SourceConfig, SourceContext
from syncd.errors import NeedsReauthError, SourceError, UserError

DEFAULT_AUTHORITY = "https://login.microsoftonline.com/common"
# Hosts msal knows itself; any other authority (a sovereign cloud we do not list, a local fake)
# must not trigger instance discovery against login.microsoftonline.com.
KNOWN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoftonline.us",
        "login.partner.microsoftonline.cn",
        "login.chinacloudapi.cn",
    }
)
# Errors that only a new sign-in can fix (msal returns them from acquire_token_silent_with_error).
REAUTH_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required"})


def authority_url(value: str) -> str:
    """``common`` / ``consumers`` / ``organizations`` / a tenant id or domain, or a full URL."""
    value = value.strip().rstrip("/")
    if value.startswith("https://"):
        return value
    if value.startswith("http://"):
        raise ValueError("the authority must be an https:// URL")
    return f"https://login.microsoftonline.com/{value}"


def scopes_for(*, mail: bool, calendar: bool, contacts: bool, send: bool) -> list[str]:
    """The delegated permissions the enabled parts need, and no more.

    User.Read lets us read /me (the mailbox address); msal adds openid/profile/offline_access.
    """
    scopes = ["User.Read"]
    if mail:
        scopes.append("Mail.ReadBasic")
    if calendar:
        scopes.append("Calendars.Read")
    if contacts:
        scopes.append("Contacts.Read")
    if send:
        scopes.append("Mail.Send")
    return scopes


class MsalAuth:
    """msal plus its persisted token cache for one source."""

    def __init__(
        self,
        *,
        client_id: str,
        authority: str,
        scopes: list[str],
        load: Callable[[], str | None],
        save: Callable[[str], str],
        http_client: Any = None,
    ):
        import msal  # heavy; only needed when an Outlook source exists

        self.scopes = scopes
        self._save = save
        self._lock = threading.Lock()
        self.cache = msal.SerializableTokenCache()
        blob = load()
        if blob:
            # A damaged cache is an empty one: the user signs in again.
            with contextlib.suppress(ValueError):
                self.cache.deserialize(blob)
        host = urlsplit(authority).hostname or ""
        kwargs: dict[str, Any] = {}
        if http_client is not None:
            kwargs["http_client"] = http_client
        try:
            self.app = msal.PublicClientApplication(
                client_id,
                authority=authority,
                token_cache=self.cache,
                instance_discovery=None if host in KNOWN_HOSTS else False,
                **kwargs,
            )
        except ValueError as e:  # msal rejects malformed authorities this way
            raise SourceError(f"authority {authority!r}: {e}") from e
        except Exception as e:  # requests errors while reading the openid configuration
            raise SourceError(f"could not reach the Microsoft sign-in service: {e}") from e
        self.saved_to: str | None = None

    def persist(self) -> None:
        if self.cache.has_state_changed:
            self.saved_to = self._save(self.cache.serialize())
            self.cache.has_state_changed = False

    def username(self) -> str | None:
        accounts = self.app.get_accounts()
        return str(accounts[0].get("username")) if accounts else None

    def token(self, force_refresh: bool = False) -> str:
        """An access token from the cache, refreshed as needed; NeedsReauthError if revoked."""
        with self._lock:
            accounts = self.app.get_accounts()
            if not accounts:
                raise NeedsReauthError("not signed in to Microsoft yet")
            try:
                result = self.app.acquire_token_silent_with_error(
                    self.scopes, account=accounts[0], force_refresh=force_refresh
                )
            except Exception as e:  # network trouble reaching the token endpoint
                raise SourceError(f"could not reach the Microsoft sign-in service: {e}") from e
            finally:
                self.persist()
            if not result:
                raise NeedsReauthError("the stored Microsoft sign-in has no usable token")
            if "access_token" in result:
                return str(result["access_token"])
            error = str(result.get("error", ""))
            desc = str(result.get("error_description", "")).splitlines()[0:1]
            detail = f"{error}: {desc[0]}" if desc else error
            if error in REAUTH_ERRORS or result.get("suberror") in REAUTH_ERRORS:
                raise NeedsReauthError(f"Microsoft refused the stored sign-in ({detail})")
            raise SourceError(f"Microsoft sign-in failed ({detail})")

    def device_flow(self, echo: Callable[[str], None]) -> dict[str, Any]:
        """Run the device code flow: print the code and URL, wait for the user, save tokens."""
        flow = self.app.initiate_device_flow(scopes=self.scopes)
        if "user_code" not in flow:
            raise SourceError(
                "Microsoft refused to start the device code flow: "
                f"{flow.get('error')}: {flow.get('error_description', '')}".strip()
            )
        echo(flow["message"])
        result = self.app.acquire_token_by_device_flow(flow)
        self.persist()
        if "access_token" not in result:
            desc = str(result.get("error_description") or "").splitlines()
            raise SourceError(
                f"sign-in did not complete: {result.get('error')}: {desc[0] if desc else ''}"
            )
        return dict(result)


def _secret_key(source: SourceConfig) -> str:
    return f"outlook-{source.name}"


def auth_for(source: SourceConfig, ctx: SourceContext, http_client: Any = None) -> MsalAuth:
    """The msal wrapper for an ``outlook`` source, its cache in the keyring or a 0600 file."""
    try:
        authority = authority_url(source.get("authority") or DEFAULT_AUTHORITY)
    except ValueError as e:
        raise UserError(f"[sources.{source.name}] authority: {e}") from None
    pinned: Path | None = source.get("token_cache_file")
    key = _secret_key(source)
    return MsalAuth(
        client_id=source["client_id"],
        authority=authority,
        scopes=scopes_for(
            mail=source.get("mail", True),
            calendar=source.get("calendar", True),
            contacts=source.get("contacts", True),
            send=source.get("send_digest", False),
        ),
        load=lambda: ctx.secrets.get(key, file=pinned),
        save=lambda blob: ctx.secrets.set(key, blob, file=pinned),
        http_client=http_client,
    )
