"""What counts as contact: the rules of DESIGN.md, applied to stored facts.

``RuleSet.judge`` looks at one interaction and says, for every participant other than the user,
whether it counts as contact and why. The same function feeds the derived ``contact_log``
(through :meth:`RuleSet.derive`) and ``syncd explain``, so the explanation is always the rule.
Whether a meeting has already happened depends on the as-of time and is decided at query time.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from syncd.config import Config, Rules
from syncd.models import ContactRow, Flag, StoredInteraction

# Bump when the logic below changes, so that stores rebuild their derived contacts.
RULES_VERSION = 2

# Local parts of automated senders (fnmatch, lowercase). Heuristic: `allow_addresses` overrides.
NOREPLY_PATTERNS = (
    "*noreply*",
    "*no-reply*",
    "*no_reply*",
    "*donotreply*",
    "*do-not-reply*",
    "*do_not_reply*",
    "mailer-daemon",
    "postmaster",
    "bounce",
    "bounce[-+.]*",
    "bounces",
    "bounces[-+.]*",
    "notification",
    "notifications",
    "notification[-+.]*",
    "notifications[-+.]*",
    "notify",
    "alert",
    "alerts",
    "newsletter",
    "newsletters",
    "news",
    "info",
    "updates",
    "digest",
    "daemon",
    "automated",
    "calendar-notification",
)

# Plain ints: IntFlag arithmetic is slow on the hot path of deriving a million interactions.
_SKIP_ALWAYS = (
    (int(Flag.SPAM), "in spam"),
    (int(Flag.TRASH), "in trash"),
    (int(Flag.DRAFT), "a draft"),
    (int(Flag.CHAT), "a chat entry"),
    (int(Flag.DIGEST), "a syncd digest"),
)
_BULK_REASONS = (
    (int(Flag.LIST), "mailing-list mail (List-Id)"),
    (int(Flag.BULK), "bulk mail (List-Unsubscribe or Precedence)"),
    (int(Flag.AUTO_REPLY), "an automatic reply"),
    (int(Flag.AUTOMATED), "automated mail (Auto-Submitted, null Return-Path or a report)"),
    (int(Flag.CATEGORY), "filed by the provider as promotions/social/updates/forums"),
)
_ANY_SKIP = sum(f for f, _ in _SKIP_ALWAYS)
_ANY_BULK = sum(f for f, _ in _BULK_REASONS)
_SENT, _CANCELLED, _DECLINED, _NOT_MEETING = (
    int(Flag.SENT),
    int(Flag.CANCELLED),
    int(Flag.DECLINED),
    int(Flag.NOT_MEETING),
)
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Verdict:
    address: str
    counts: bool
    dir: str | None  # out | in | meet when it counts
    reason: str
    name: str | None = None


class RuleSet:
    def __init__(self, rules: Rules, me: Iterable[str], timezone: str):
        self.rules = rules
        self.me = frozenset(a.lower() for a in me)
        self.timezone = timezone
        self.tz = ZoneInfo(timezone)
        self._ignored = frozenset(rules.ignore_addresses)
        self._ignored_domains = tuple(d.lower().lstrip("@") for d in rules.ignore_domains)
        self._allowed = frozenset(rules.allow_addresses)
        patterns = NOREPLY_PATTERNS + tuple(p.lower() for p in rules.noreply_patterns)
        self._automated = re.compile("|".join(fnmatch.translate(p) for p in patterns))
        self._reason_cache: dict[str, str | None] = {}
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """What identifies these rules (version, options, the user's addresses, time zone):
        contacts derived with another fingerprint are derived again."""
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def _compute_fingerprint(self) -> str:
        blob = json.dumps(
            [RULES_VERSION, asdict(self.rules), sorted(self.me), self.timezone],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def is_me(self, address: str) -> bool:
        return address in self.me

    def address_reason(self, address: str) -> str | None:
        """Why this address is never a person, or None when it may be one."""
        if address in self._reason_cache:
            return self._reason_cache[address]
        reason: str | None = None
        local, _, domain = address.rpartition("@")
        if address in self.me:
            reason = "your own address"
        elif address in self._allowed:
            reason = None
        elif address in self._ignored:
            reason = "ignored by [rules] ignore_addresses"
        elif any(domain == d or domain.endswith("." + d) for d in self._ignored_domains):
            reason = "ignored by [rules] ignore_domains"
        elif not local or not domain:
            reason = "not an email address"
        elif self._automated.match(local):
            reason = "a no-reply or automated address"
        self._reason_cache[address] = reason
        return reason

    def day_of(self, when: datetime) -> int:
        return (when.astimezone(self.tz).date() - EPOCH).days

    # ------------------------------------------------------------------ judging
    def judge(self, it: StoredInteraction) -> list[Verdict]:
        """One verdict per participant who is not the user (time-independent part)."""
        if it.kind == "meeting":
            return self._judge_meeting(it)
        return self._judge_email(it)

    def _others(self, it: StoredInteraction, roles: Iterable[str]) -> dict[str, str | None]:
        wanted = set(roles)
        out: dict[str, str | None] = {}
        for p in it.participants:
            if p.role in wanted and p.address not in self.me and p.address not in out:
                out[p.address] = p.name
        return out

    def _judge_email(self, it: StoredInteraction) -> list[Verdict]:
        senders = [p.address for p in it.participants if p.role == "from"]
        outgoing = bool(it.flags & _SENT) or any(s in self.me for s in senders)
        everyone = self._others(it, ("from", "to", "cc", "bcc"))
        blanket = None
        if it.flags & _ANY_SKIP:
            blanket = next(why for flag, why in _SKIP_ALWAYS if it.flags & flag)
        bulk = None
        if it.flags & _ANY_BULK:
            bulk = next(why for flag, why in _BULK_REASONS if it.flags & flag)
        crowd = None
        if it.head_count > self.rules.max_recipients:
            crowd = (
                f"sent to {it.head_count} recipients "
                f"(more than max_recipients = {self.rules.max_recipients})"
            )
        verdicts: list[Verdict] = []
        if outgoing:
            # The user's vacation responder, read receipts or mass mailings are not the user
            # writing to someone: the same bulk/automated facts exclude them.
            for addr, name in everyone.items():
                why = blanket or self.address_reason(addr) or bulk or crowd
                if why:
                    verdicts.append(Verdict(addr, False, None, f"not contact: {why}", name))
                else:
                    verdicts.append(Verdict(addr, True, "out", "contact: you wrote to them", name))
            return verdicts
        for addr, name in everyone.items():
            if addr not in senders:
                why = "only the sender of incoming mail is in contact with you"
                verdicts.append(Verdict(addr, False, None, f"not contact: {why}", name))
                continue
            why = blanket or self.address_reason(addr) or bulk or crowd
            if why:
                verdicts.append(Verdict(addr, False, None, f"not contact: {why}", name))
            else:
                verdicts.append(Verdict(addr, True, "in", "contact: personal mail from them", name))
        return verdicts

    def _judge_meeting(self, it: StoredInteraction) -> list[Verdict]:
        everyone = self._others(it, ("organizer", "attendee"))
        my_responses = [
            p.response for p in it.participants if p.address in self.me and p.role == "attendee"
        ]
        why: str | None = None
        # A shared or subscribed calendar holds meetings of other people: only those the
        # user organized or was invited to are contact.
        present = any(
            p.address in self.me for p in it.participants if p.role in ("organizer", "attendee")
        )
        if not present:
            why = "you were not at this meeting"
        elif it.flags & Flag.CANCELLED:
            why = "the meeting was cancelled"
        elif it.flags & _DECLINED or "declined" in my_responses:
            why = "you declined"
        elif it.flags & _NOT_MEETING:
            why = "not a meeting (free time, focus time or out of office)"
        elif it.head_count > self.rules.max_meeting_size:
            why = (
                f"{it.head_count} attendees "
                f"(more than max_meeting_size = {self.rules.max_meeting_size})"
            )
        verdicts: list[Verdict] = []
        declined = {
            p.address for p in it.participants if p.response == "declined" and p.role == "attendee"
        }
        for addr, name in everyone.items():
            reason = why or self.address_reason(addr)
            if reason is None and addr in declined:
                reason = "they declined"
            if reason:
                verdicts.append(Verdict(addr, False, None, f"not contact: {reason}", name))
            else:
                verdicts.append(Verdict(addr, True, "meet", "contact: you met", name))
        return verdicts

    def weight(self, it: StoredInteraction, direction: str) -> float:
        """Small groups count more than big ones; your own mail counts most."""
        size = max(1, it.head_count - (1 if direction == "meet" else 0))
        base = {"out": 1.0, "meet": 1.0, "in": 0.7}[direction]
        return base / math.sqrt(size)

    def derive(self, items: list[StoredInteraction]) -> list[ContactRow]:
        rows: list[ContactRow] = []
        for it in items:
            ts = int(it.occurred_at.timestamp())
            day = self.day_of(it.occurred_at)
            for v in self.judge(it):
                if v.counts and v.dir:
                    rows.append(
                        ContactRow(
                            it.id,
                            v.address,
                            ts,
                            day,
                            it.kind,
                            v.dir,
                            self.weight(it, v.dir),
                            v.name,
                        )
                    )
        return rows


def contact_rules(config: Config) -> Callable[[Iterable[str]], RuleSet]:
    """The rules of ``config`` for the user's addresses plus the given accounts (those the
    sources report as the user's). Each distinct set of accounts gets one RuleSet, reused:
    this is the deriver factory the store's writers are handed (syncd.models.DeriverFactory).
    """
    made: dict[frozenset[str], RuleSet] = {}

    def rules_for(accounts: Iterable[str]) -> RuleSet:
        key = frozenset(accounts)
        if key not in made:
            made[key] = RuleSet(config.rules, set(config.me.emails) | key, config.me.timezone)
        return made[key]

    return rules_for
