"""The ``google`` source: Gmail, Google Calendar and Google Contacts under one sign-in.

The parts live in ``google_gmail``, ``google_calendar``, ``google_people`` (sync),
``google_auth`` (sign-in, tokens) and ``google_quota`` (budget, retries); this module holds the
config spec and composes them. The cursor is one dict with a part per feature::

    {"v": 1, "account": "ada@gmail.com", "gmail": {...}, "calendar": {...}, "people": {...}}

Each batch carries the whole cursor as it stands after that batch, or None when a part is
midway through pages whose replay is harmless.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

from connectors import google_auth
from connectors.base import SourceConfig, SourceContext
from connectors.google_quota import (
    DEFAULT_CALENDAR_REQUESTS_PER_MINUTE,
    DEFAULT_GMAIL_COSTS,
    DEFAULT_GMAIL_UNITS_PER_MINUTE,
    Caller,
    QuotaBucket,
    error_reasons,
    http_status,
)
from connectors.retry import RetryPolicy
from syncd.errors import DeliveryError, NeedsReauthError, SourceError
from syncd.models import Batch
from syncd.options import (
    Option,
    OptionValueError,
    boolean,
    integer,
    path,
    since,
    string,
    string_list,
)

GOOGLE_BATCH_BASE = "https://gmail.googleapis.com/"


def _costs(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise OptionValueError('expected a table such as { "messages.get" = 5 }')
    out = dict(DEFAULT_GMAIL_COSTS)
    for key, cost in value.items():
        if key not in DEFAULT_GMAIL_COSTS:
            known = ", ".join(DEFAULT_GMAIL_COSTS)
            raise OptionValueError(f"unknown method {key!r} (known: {known})")
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 0:
            raise OptionValueError(f"{key}: expected a whole number of units")
        out[key] = cost
    return out


def _endpoint(value: Any) -> str:
    s = string(value).strip()
    if not s.startswith(("http://", "https://")):
        raise OptionValueError(f"expected an http(s) URL, got {s!r}")
    return s.rstrip("/") + "/"


OPTIONS: dict[str, Option] = {
    "client_secrets": Option(
        path, None, "Your OAuth client JSON (Desktop app) from the Google Cloud console."
    ),
    "token_file": Option(
        path, None, "Keep the sign-in in this 0600 file instead of the OS keyring."
    ),
    "since": Option(since, since("3y"), "How far back the first sync reaches: date or span."),
    "mail": Option(boolean, True, "Sync Gmail message metadata."),
    "calendar": Option(boolean, True, "Sync Google Calendar events."),
    "contacts": Option(boolean, True, "Sync Google Contacts (names, addresses, birthdays)."),
    "other_contacts": Option(boolean, True, "Also read 'Other contacts' for names."),
    "calendars_include": Option(
        string_list, (), "Calendars (ids or titles) to sync besides your own."
    ),
    "calendars_exclude": Option(string_list, (), "Calendars (ids or titles) never to sync."),
    "send_digest": Option(
        boolean, False, "Ask for gmail.send so that the digest can be sent through this account."
    ),
    "api_endpoint": Option(
        _endpoint, None, "One base URL for Gmail, Calendar and People (tests, proxies)."
    ),
    "quota_units_per_minute": Option(
        integer(minimum=1), DEFAULT_GMAIL_UNITS_PER_MINUTE, "Gmail quota per user per minute."
    ),
    "quota_costs": Option(_costs, dict(DEFAULT_GMAIL_COSTS), "Gmail units per method."),
    "calendar_requests_per_minute": Option(
        integer(minimum=1), DEFAULT_CALENDAR_REQUESTS_PER_MINUTE, "Calendar requests per minute."
    ),
    "batch_size": Option(integer(1, 100), 50, "Gmail requests per batch (Google advises <= 50)."),
    "max_attempts": Option(integer(1, 20), 8, "Tries per request before giving up until later."),
}

FEATURES = ("contacts", "calendar", "mail")


def _build(api: str, version: str, creds: Any, endpoint: str | None) -> Any:
    from googleapiclient.discovery import build

    opts = {"api_endpoint": endpoint} if endpoint else None
    return build(
        api,
        version,
        credentials=creds,
        client_options=opts,
        static_discovery=True,
        cache_discovery=False,
    )


class GoogleConnector:
    def __init__(
        self,
        source: SourceConfig,
        ctx: SourceContext,
        *,
        policy: RetryPolicy | None = None,
    ):
        self.source = source
        self.ctx = ctx
        self.name = source.name
        self.policy = policy or RetryPolicy(attempts=source.get("max_attempts", 8))
        self.endpoint: str | None = source.get("api_endpoint")
        self.creds: Any = None
        self.gmail_caller: Caller | None = None
        self.parts: dict[str, Any] = {}

    # -- plumbing ----------------------------------------------------------------------------

    def _signin(self) -> Callable[[], None]:
        self.creds = google_auth.load_credentials(self.source, self.ctx)
        return google_auth.TokenSaver(self.source, self.ctx, self.creds)

    def _caller(self, saver: Callable[[], None], bucket: QuotaBucket | None, costs: Any) -> Caller:
        return Caller(
            self.name, self.policy, sleep=self.ctx.sleep, bucket=bucket, costs=costs,
            after_call=saver,
        )  # fmt: skip

    def enabled_features(self) -> list[str]:
        """Features switched on in the config and granted by the user; says what is off."""
        granted = self.creds.scopes if self.creds is not None else None
        wanted = google_auth.wanted_scopes(self.source.options)
        for problem in google_auth.missing_features(wanted, granted):
            self.ctx.log.warning("%s: %s; run `syncd auth %s`", self.name, problem, self.name)
        have = set(granted) if granted else None
        on = []
        for feature in FEATURES:
            scope = google_auth.FEATURE_SCOPES[feature][0]
            if self.source.get(feature, True) and (have is None or scope in have):
                on.append(feature)
        return on

    def make_part(self, feature: str, saver: Callable[[], None]) -> Any:
        from connectors.google_calendar import CalendarSync
        from connectors.google_gmail import GmailSync
        from connectors.google_people import PeopleSync

        start = self.source.get("since") or since("3y")
        base = self.endpoint
        if feature == "mail":
            bucket = QuotaBucket(
                self.source.get("quota_units_per_minute", DEFAULT_GMAIL_UNITS_PER_MINUTE),
                clock=self.ctx.monotonic,
                sleep=self.ctx.sleep,
            )
            costs = self.source.get("quota_costs") or DEFAULT_GMAIL_COSTS
            self.gmail_caller = self._caller(saver, bucket, costs)
            return GmailSync(
                _build("gmail", "v1", self.creds, base),
                self.gmail_caller,
                batch_uri=(base or GOOGLE_BATCH_BASE) + "batch/gmail/v1",
                since=start.start(),
                batch_size=self.source.get("batch_size", 50),
                source_name=self.name,
            )
        if feature == "calendar":
            bucket = QuotaBucket(
                self.source.get("calendar_requests_per_minute", 600),
                clock=self.ctx.monotonic,
                sleep=self.ctx.sleep,
            )
            return CalendarSync(
                _build("calendar", "v3", self.creds, base + "calendar/v3/" if base else None),
                self._caller(saver, bucket, {}),
                since=start.start(),
                timezone=self.ctx.timezone,
                include=self.source.get("calendars_include", ()),
                exclude=self.source.get("calendars_exclude", ()),
                source_name=self.name,
            )
        other = self.source.get("other_contacts", True)
        if (
            other
            and self.creds.scopes
            and google_auth.OTHER_CONTACTS_READONLY not in self.creds.scopes
        ):
            other = False
        return PeopleSync(
            _build("people", "v1", self.creds, base),
            self._caller(saver, None, {}),
            other_contacts=other,
            source_name=self.name,
        )

    # -- the protocol ------------------------------------------------------------------------

    def fetch(self, cursor: dict[str, Any] | None) -> Iterator[Batch]:
        from googleapiclient.errors import HttpError

        state: dict[str, Any] = copy.deepcopy(cursor) if cursor else {}
        state["v"] = 1
        saver = self._signin()
        features = self.enabled_features()
        if not features:
            raise SourceError(f"{self.name}: nothing to sync (every feature is off)")
        key = {"mail": "gmail", "calendar": "calendar", "contacts": "people"}
        for feature in features:
            part = self.parts[feature] = self.make_part(feature, saver)
            sub = state.setdefault(key[feature], {})
            try:
                for batch, commit in part.fetch(sub):
                    if batch.account:
                        state["account"] = batch.account
                    batch.account = state.get("account")
                    batch.cursor = copy.deepcopy(state) if commit else None
                    yield batch
            except HttpError as e:
                if http_status(e) == 403 and (
                    "insufficientPermissions" in error_reasons(e)
                    or "insufficient" in str(e).lower()
                ):
                    self.ctx.log.warning(
                        "%s: %s is off: Google says the sign-in lacks its permission; "
                        "run `syncd auth %s`",
                        self.name, feature, self.name,
                    )  # fmt: skip
                    continue
                raise SourceError(f"{self.name}: {feature}: Google answered {e}") from e


def open(source: SourceConfig, ctx: SourceContext) -> GoogleConnector:
    return GoogleConnector(source, ctx)


def authenticate(source: SourceConfig, ctx: SourceContext, echo: Callable[[str], None]) -> None:
    google_auth.authenticate(source, ctx, echo)


def send_message(source: SourceConfig, ctx: SourceContext, message: EmailMessage) -> str:
    """Send ``message`` (raw MIME, all its headers kept) through this account's Gmail.

    Needs the gmail.send scope (``send_digest = true`` and ``syncd auth NAME``). Returns the
    Gmail id of the sent message. Only throttling answers are retried: a 5xx may mean the
    message went out, and a digest must not be sent twice.
    """
    from googleapiclient.errors import HttpError

    try:
        creds = google_auth.load_credentials(source, ctx)
    except NeedsReauthError as e:
        raise DeliveryError(str(e)) from e
    if creds.scopes and google_auth.GMAIL_SEND not in creds.scopes:
        raise DeliveryError(
            f"{source.name}: this sign-in may not send mail; set send_digest = true in "
            f"[sources.{source.name}] and run `syncd auth {source.name}`"
        )
    saver = google_auth.TokenSaver(source, ctx, creds)
    caller = Caller(
        source.name, RetryPolicy(attempts=4), sleep=ctx.sleep, after_call=saver,
        retry_server_errors=False,
    )  # fmt: skip
    service = _build("gmail", "v1", creds, source.get("api_endpoint"))
    raw = base64.urlsafe_b64encode(message.as_bytes()).decode("ascii")
    try:
        sent = caller.call(
            service.users().messages().send(userId="me", body={"raw": raw}), "messages.send"
        )
    except HttpError as e:
        if http_status(e) == 403 and "insufficientPermissions" in error_reasons(e):
            # The stored token lists gmail.send, yet Google no longer honours it (consent
            # withdrawn at myaccount.google.com): only a new sign-in brings it back.
            raise DeliveryError(
                f"{source.name}: Gmail refused to send the digest (403 insufficientPermissions); "
                f"set send_digest = true in [sources.{source.name}] and run "
                f"`syncd auth {source.name}`"
            ) from e
        raise DeliveryError(f"{source.name}: Gmail did not send the digest: {e}") from e
    except SourceError as e:
        raise DeliveryError(f"{source.name}: Gmail did not send the digest: {e}") from e
    return str(sent["id"])
