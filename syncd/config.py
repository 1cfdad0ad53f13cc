"""The TOML config, loaded into frozen, validated settings.

Every table is checked against one spec (syncd.options.Option: type, default, help); every
problem in the file is collected and raised once as ConfigError, so the user fixes them all
in one go. ``[sources.NAME]`` tables are checked against COMMON_OPTIONS plus the options of the
connector their ``type`` names.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from connectors.base import COMMON_OPTIONS, TYPES, SourceConfig, options_for
from syncd.errors import ConfigError
from syncd.options import (
    Option,
    OptionValueError,
    boolean,
    choice,
    days,
    email_address,
    email_list,
    integer,
    nonempty_string,
    number,
    path,
    string,
    string_list,
    validate_table,
)

APP = "syncd"


def default_config_path() -> Path:
    env = os.environ.get("SYNCD_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def default_store_path() -> Path:
    return Path(platformdirs.user_data_dir(APP)) / "syncd.db"


def default_state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP))


def system_timezone() -> str:
    """The system's IANA zone name, or UTC when it cannot be told."""
    tz = os.environ.get("TZ")
    if tz and _valid_zone(tz.lstrip(":")):
        return tz.lstrip(":")
    try:
        link = os.readlink("/etc/localtime")
        name = link.split("zoneinfo/", 1)[1]
        if _valid_zone(name):
            return name
    except (OSError, IndexError):
        pass
    return "UTC"


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def timezone_name(value: Any) -> str:
    s = nonempty_string(value)
    if not _valid_zone(s):
        raise OptionValueError(f"unknown time zone {s!r} (use an IANA name such as Europe/London)")
    return s


def fraction(value: Any) -> float:
    f = number(value)
    if not 0 <= f <= 10:
        raise OptionValueError(f"must be between 0 and 10, got {f}")
    return f


def schedule(value: Any) -> tuple[int, int, int]:
    """``"monday 08:00"`` -> (weekday 0-6, hour, minute)."""
    s = nonempty_string(value).lower()
    names = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    try:
        day_s, time_s = s.split()
        hh, mm = time_s.split(":")
        hour, minute = int(hh), int(mm)
        weekday = next(i for i, n in enumerate(names) if n.startswith(day_s[:3]))
        if not (0 <= hour < 24 and 0 <= minute < 60) or len(day_s) < 3:
            raise ValueError
    except (ValueError, StopIteration):
        raise OptionValueError(
            f"expected a weekday and a 24-hour time such as 'monday 08:00', got {value!r}"
        ) from None
    return weekday, hour, minute


def birthday(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    s = string(value).strip()
    try:
        if s.startswith("--"):  # vCard's year-less form --MM-DD
            return date(1900, int(s[2:4]), int(s[5:7]))
        return date.fromisoformat(s)
    except ValueError:
        raise OptionValueError(
            f"expected a date such as 1990-12-10 or --12-10, got {s!r}"
        ) from None


ME_OPTIONS: dict[str, Option] = {
    "name": Option(nonempty_string, "", "Your name, used to greet you in the digest."),
    "emails": Option(email_list, (), "Your own addresses and aliases: never counted as a person."),
    "timezone": Option(timezone_name, None, "IANA time zone; default: the system's."),
}
STORE_OPTIONS: dict[str, Option] = {
    "path": Option(path, None, "SQLite file; default under the platform's data directory."),
}
RULES_OPTIONS: dict[str, Option] = {
    "max_recipients": Option(integer(1), 10, "Mail to more people than this is not personal."),
    "max_meeting_size": Option(integer(2), 12, "Meetings with more attendees do not count."),
    "ignore_addresses": Option(email_list, (), "Addresses that are never a person."),
    "ignore_domains": Option(string_list, (), "Domains whose addresses are never a person."),
    "noreply_patterns": Option(
        string_list, (), "Extra local-part patterns (fnmatch) of automated senders."
    ),
    "allow_addresses": Option(
        email_list, (), "Addresses that look automated (info@, support@) but are people."
    ),
    "default_rhythm": Option(days, 60, "Rhythm for people with too little history to infer one."),
    "min_rhythm": Option(days, 7, "Inferred rhythms are at least this long."),
    "max_rhythm": Option(days, 365, "Inferred rhythms are at most this long."),
    "slack": Option(fraction, 0.25, "Overdue once days since contact exceed rhythm * (1 + slack)."),
    "awaiting_reply_days": Option(
        days, 21, "Unanswered personal mail younger than this is 'awaiting your reply'."
    ),
    "forget_after": Option(
        days, 1095, "People not in contact for longer than this are no longer suggested."
    ),
}
PEOPLE_OPTIONS: dict[str, Option] = {
    "name": Option(nonempty_string, None, "Display name."),
    "emails": Option(email_list, help="All addresses of this person (merged into one)."),
    "every": Option(days, None, "Pinned rhythm, e.g. '14d' or '3w'."),
    "birthday": Option(birthday, None, "Birthday, e.g. 1990-12-10 or --12-10."),
    "mute": Option(boolean, False, "Never suggest this person."),
}
DIGEST_OPTIONS: dict[str, Option] = {
    "max_people": Option(integer(1, 50), 7, "At most this many people per digest."),
    "to": Option(email_address, None, "Recipient; default: the first [me] email."),
    "from": Option(email_address, None, "Sender address; default: the recipient."),
    "via": Option(nonempty_string, "smtp", "smtp | file | NAME of a google or outlook source."),
    "schedule": Option(schedule, (0, 8, 0), "Weekday and local time of the weekly digest."),
    "send_empty": Option(boolean, False, "Send a digest even when there is nothing to say."),
    "birthday_days": Option(days, 14, "Show birthdays this many days ahead."),
    "file_path": Option(path, None, "For via = 'file': a folder (Maildir if it has cur/new/tmp)."),
}
SMTP_OPTIONS: dict[str, Option] = {
    "host": Option(nonempty_string, help="SMTP server host name."),
    "port": Option(integer(1, 65535), None, "Default: 587 (starttls), 465 (tls), 25 (none)."),
    "security": Option(choice("starttls", "tls", "none"), "starttls", "none only to loopback."),
    "username": Option(string, None, "Login name; no login when absent."),
    "password_env": Option(string, None, "Environment variable holding the password."),
    "password_command": Option(string_list, None, "Command printing the password."),
    "ca_file": Option(path, None, "Extra CA certificate to trust (self-hosted servers)."),
    "timeout": Option(integer(1), 60, "Seconds before a stalled connection is given up."),
}


@dataclass(frozen=True)
class Me:
    name: str
    emails: tuple[str, ...]
    timezone: str


@dataclass(frozen=True)
class PersonEntry:
    """One ``[[people]]`` table: addresses merged into one person, and pinned settings."""

    name: str | None
    emails: tuple[str, ...]
    every: int | None = None
    birthday: date | None = None
    mute: bool = False


@dataclass(frozen=True)
class Rules:
    max_recipients: int = 10
    max_meeting_size: int = 12
    ignore_addresses: tuple[str, ...] = ()
    ignore_domains: tuple[str, ...] = ()
    noreply_patterns: tuple[str, ...] = ()
    allow_addresses: tuple[str, ...] = ()
    default_rhythm: int = 60
    min_rhythm: int = 7
    max_rhythm: int = 365
    slack: float = 0.25
    awaiting_reply_days: int = 21
    forget_after: int = 1095


@dataclass(frozen=True)
class DigestSettings:
    max_people: int = 7
    to: str | None = None
    sender: str | None = None
    via: str = "smtp"
    schedule: tuple[int, int, int] = (0, 8, 0)
    send_empty: bool = False
    birthday_days: int = 14
    file_path: Path | None = None


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str
    username: str | None
    options: Mapping[str, Any]  # password_env / password_command for resolve_password
    ca_file: Path | None = None
    timeout: int = 60


@dataclass(frozen=True)
class Config:
    path: Path | None
    me: Me
    store_path: Path
    state_dir: Path
    sources: dict[str, SourceConfig]
    people: tuple[PersonEntry, ...] = ()
    rules: Rules = field(default_factory=Rules)
    digest: DigestSettings = field(default_factory=DigestSettings)
    smtp: SmtpSettings | None = None

    @property
    def digest_to(self) -> str | None:
        return self.digest.to or (self.me.emails[0] if self.me.emails else None)


TOP_LEVEL = ("me", "store", "sources", "people", "rules", "digest", "smtp")


def load_config(path: Path) -> Config:
    """Read and validate ``path``; raises ConfigError listing every problem."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            where, ["file not found (create one with `syncd init`, or pass --config PATH)"]
        ) from None
    except OSError as e:
        raise ConfigError(where, [f"cannot read: {e.strerror or e}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(where, [f"not UTF-8 text (byte {e.start})"]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(where, [f"TOML syntax error: {e}"]) from None
    return parse_config(data, path)


def _table(data: Mapping[str, Any], key: str, problems: list[str]) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.append(f"[{key}] must be a table")
        return {}
    return value


def _relative_to(value: Any, config_path: Path | None) -> Any:
    """Relative paths in a config file are relative to the file's folder, not the cwd."""
    if isinstance(value, Path) and not value.is_absolute() and config_path is not None:
        return config_path.resolve().parent / value
    return value


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> Config:
    problems: list[str] = []
    for key in data:
        if key not in TOP_LEVEL:
            problems.append(f"unknown section [{key}] (known: {', '.join(TOP_LEVEL)})")

    me_raw = validate_table(_table(data, "me", problems), ME_OPTIONS, "[me]", problems)
    me = Me(
        name=me_raw.get("name") or "",
        emails=tuple(dict.fromkeys(me_raw.get("emails") or ())),
        timezone=me_raw.get("timezone") or system_timezone(),
    )
    store_raw = validate_table(_table(data, "store", problems), STORE_OPTIONS, "[store]", problems)
    rules_raw = validate_table(_table(data, "rules", problems), RULES_OPTIONS, "[rules]", problems)
    rules = Rules(**{k: v for k, v in rules_raw.items() if v is not None})
    if rules.min_rhythm > rules.max_rhythm:
        problems.append("[rules] min_rhythm: must not exceed max_rhythm")
    digest_raw = validate_table(
        _table(data, "digest", problems), DIGEST_OPTIONS, "[digest]", problems
    )
    digest_raw["sender"] = digest_raw.pop("from", None)
    digest = DigestSettings(**{k: v for k, v in digest_raw.items() if v is not None})

    sources: dict[str, SourceConfig] = {}
    for name, table in _table(data, "sources", problems).items():
        where = f"[sources.{name}]"
        if not isinstance(table, dict):
            problems.append(f"{where} must be a table")
            continue
        type_name = table.get("type")
        if type_name is None:
            problems.append(f"{where}: missing required key 'type' ({' | '.join(TYPES)})")
            continue
        if type_name not in TYPES:
            problems.append(f"{where} type: must be one of {', '.join(TYPES)}; got {type_name!r}")
            continue
        opts = validate_table(table, options_for(type_name), where, problems)
        opts = {k: _relative_to(v, path) for k, v in opts.items()}
        sources[name] = SourceConfig(name=name, type=type_name, options=opts)
    _ = COMMON_OPTIONS  # the common keys are part of options_for()

    people: list[PersonEntry] = []
    people_raw = data.get("people", [])
    if not isinstance(people_raw, list):
        problems.append("[[people]] must be an array of tables ([[people]], not [people])")
        people_raw = []
    seen_addr: dict[str, int] = {}
    for i, entry in enumerate(people_raw, 1):
        where = f"[[people]] #{i}"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a table")
            continue
        if isinstance(entry.get("name"), str):
            where = f"[[people]] #{i} ({entry['name']})"
        p = validate_table(entry, PEOPLE_OPTIONS, where, problems)
        emails = tuple(dict.fromkeys(p.get("emails") or ()))
        for e in emails:
            if e in seen_addr:
                problems.append(
                    f"{where} emails: {e} is already listed in [[people]] #{seen_addr[e]}"
                )
            seen_addr[e] = i
        people.append(
            PersonEntry(
                p.get("name"), emails, p.get("every"), p.get("birthday"), bool(p.get("mute"))
            )
        )

    smtp: SmtpSettings | None = None
    if "smtp" in data:
        s = validate_table(_table(data, "smtp", problems), SMTP_OPTIONS, "[smtp]", problems)
        if all(k in s for k in ("host", "security", "timeout")):  # else: already a problem
            default_port = {"starttls": 587, "tls": 465, "none": 25}[s["security"]]
            smtp = SmtpSettings(
                host=s["host"],
                port=s.get("port") or default_port,
                security=s["security"],
                username=s.get("username"),
                options={k: s.get(k) for k in ("password_env", "password_command")},
                ca_file=s.get("ca_file"),
                timeout=s["timeout"],
            )
    via = digest.via
    if via not in ("smtp", "file") and via not in sources:
        problems.append(f"[digest] via: {via!r} is neither smtp, file, nor the name of a source")
    elif via in sources and sources[via].type not in ("google", "outlook"):
        problems.append(
            f"[digest] via: source {via!r} is {sources[via].type}, not google or outlook"
        )

    if problems:
        raise ConfigError(str(path) if path else "<config>", problems)
    store_path = _relative_to(store_raw.get("path"), path) or default_store_path()
    return Config(
        path=path,
        me=me,
        store_path=store_path,
        state_dir=default_state_dir(),
        sources=sources,
        people=tuple(people),
        rules=rules,
        digest=digest,
        smtp=smtp,
    )
