"""Typed config options: one spec gives each key's type, default and documentation.

Connectors declare ``OPTIONS: dict[str, Option]`` for their ``[sources.NAME]`` table; the
config loader validates every table against its spec and collects all problems at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

_MISSING: Any = object()


class OptionValueError(ValueError):
    """A value has the wrong type or shape; the message says what was expected."""


@dataclass(frozen=True)
class Option:
    """One config key: ``parse`` turns the raw TOML value into the typed value."""

    parse: Callable[[Any], Any]
    default: Any = _MISSING
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING


def _type_name(value: Any) -> str:
    return {str: "a string", int: "an integer", bool: "a boolean", float: "a number"}.get(
        type(value), type(value).__name__
    )


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise OptionValueError(f"expected a string, got {_type_name(value)}")
    return value


def nonempty_string(value: Any) -> str:
    s = string(value).strip()
    if not s:
        raise OptionValueError("must not be empty")
    return s


def integer(minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise OptionValueError(f"expected an integer, got {_type_name(value)}")
        if minimum is not None and value < minimum:
            raise OptionValueError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise OptionValueError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OptionValueError(f"expected a number, got {_type_name(value)}")
    return float(value)


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise OptionValueError(f"expected true or false, got {_type_name(value)}")
    return value


def choice(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        s = string(value)
        if s not in allowed:
            raise OptionValueError(f"must be one of {', '.join(allowed)}; got {s!r}")
        return s

    return parse


def string_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise OptionValueError("expected a list of strings")
    return tuple(value)


def path(value: Any) -> Path:
    return Path(string(value)).expanduser()


def email_address(value: Any) -> str:
    s = nonempty_string(value).lower()
    if "@" not in s or any(c.isspace() for c in s):
        raise OptionValueError(f"{value!r} is not an email address")
    return s


def email_list(value: Any) -> tuple[str, ...]:
    return tuple(email_address(v) for v in string_list(value))


_SPAN = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|y)\s*$")
_SPAN_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def duration(value: Any) -> timedelta:
    """``"15m"``, ``"2h"``, ``"30d"``, ``"6w"``, ``"1y"``; a bare integer means days."""
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(days=value)
    m = _SPAN.match(string(value))
    if not m:
        raise OptionValueError(f"expected a span such as '15m', '30d' or '2y', got {value!r}")
    return timedelta(seconds=int(m.group(1)) * _SPAN_SECONDS[m.group(2)])


def days(value: Any) -> int:
    """A span expressed in whole days (``"30d"``, ``"6w"``, or an integer)."""
    d = duration(value)
    if d < timedelta(days=1):
        raise OptionValueError(f"must be at least one day, got {value!r}")
    return round(d / timedelta(days=1))


@dataclass(frozen=True)
class Since:
    """How far back a first sync reaches: a fixed date or a span back from now."""

    at: date | None = None
    span: timedelta | None = None

    def start(self, now: datetime | None = None) -> datetime:
        if self.at is not None:
            return datetime(self.at.year, self.at.month, self.at.day, tzinfo=UTC)
        now = now or datetime.now(UTC)
        return now - (self.span or timedelta(0))


def since(value: Any) -> Since:
    """A date (TOML date or ``"2020-01-01"``) or a span such as ``"3y"``."""
    if isinstance(value, datetime):
        return Since(at=value.date())
    if isinstance(value, date):
        return Since(at=value)
    s = string(value)
    try:
        return Since(at=date.fromisoformat(s.strip()))
    except ValueError:
        pass
    try:
        return Since(span=duration(s))
    except OptionValueError:
        raise OptionValueError(f"expected a date (2020-01-01) or a span (3y), got {s!r}") from None


def validate_table(
    table: dict[str, Any],
    spec: dict[str, Option],
    where: str,
    problems: list[str],
    *,
    ignore: Sequence[str] = (),
) -> dict[str, Any]:
    """Parse ``table`` against ``spec``; append one message per problem to ``problems``.

    Returns the typed values, with defaults filled in for keys that are absent.
    """
    out: dict[str, Any] = {}
    for key, raw in table.items():
        if key in ignore:
            continue
        opt = spec.get(key)
        if opt is None:
            known = ", ".join(sorted(k for k in spec if k not in ignore)) or "none"
            problems.append(f"{where}: unknown key {key!r} (known keys: {known})")
            continue
        try:
            out[key] = opt.parse(raw)
        except OptionValueError as e:
            problems.append(f"{where} {key}: {e}")
    for key, opt in spec.items():
        if key in out or key in ignore:
            continue
        if key in table:  # present but invalid: already reported
            continue
        if opt.required:
            problems.append(f"{where}: missing required key {key!r}")
        else:
            out[key] = opt.default
    return out
