"""The one sync algorithm: run a connector from its stored cursor and apply its batches.

Each batch and its cursor go to the store in one transaction (Store.apply_batch). A source
that fails is recorded (last_error, needs re-auth) and the other sources go on; the caller
decides the exit status from the returned results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from connectors.base import SourceConfig, SourceContext, load
from syncd.config import Config
from syncd.errors import NeedsReauthError, SourceError, SyncdError, UserError
from syncd.models import Batch
from syncd.rules import contact_rules
from syncd.secrets import SecretStore
from syncd.store import Store

log = logging.getLogger(__name__)

# Called after each batch with (source name, batch, totals so far).
ProgressFn = Callable[[str, Batch, "SyncResult"], None]


@dataclass
class SyncResult:
    source: str
    ok: bool = True
    batches: int = 0
    upserted: int = 0  # interactions read, whether they changed anything or not
    inserted: int = 0  # new to the store
    changed: int = 0  # stored before, now different
    unchanged: int = 0  # read again exactly as stored (a rewritten or touched file)
    deleted: int = 0
    skipped: int = 0
    contacts: int = 0  # address-book entries new or changed
    skipped_samples: list[str] = field(default_factory=list)  # a few "where: reason" lines
    ignored: dict[str, int] = field(default_factory=dict)  # left out on purpose, by reason
    error: str | None = None
    needs_reauth: bool = False


def make_context(config: Config, source: SourceConfig) -> SourceContext:
    return SourceContext(
        name=source.name,
        state_dir=config.state_dir,
        secrets=SecretStore(config.state_dir),
        me_emails=config.me.emails,
        timezone=config.me.timezone,
    )


def sync_source(
    store: Store,
    config: Config,
    source: SourceConfig,
    *,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    context: SourceContext | None = None,
) -> SyncResult:
    """Sync one source until it is caught up (or ``should_stop`` says so between batches)."""
    res = SyncResult(source.name)
    store.ensure_source(source.name, source.type)
    store.mark_attempt(source.name)
    state = store.source_state(source.name)
    cursor = state.cursor if state else None
    ctx = context or make_context(config, source)
    derive = contact_rules(config)  # the store derives each batch's contacts with it
    try:
        connector = load(source.type).open(source, ctx)
        for batch in connector.fetch(cursor):
            r = store.apply_batch(source.name, batch, derive)
            res.batches += 1
            res.upserted += r.upserted
            res.inserted += r.inserted
            res.changed += r.changed
            res.unchanged += r.unchanged
            res.deleted += r.deleted + r.swept
            res.skipped += r.skipped
            res.contacts += r.contacts
            for reason, n in batch.ignored.items():
                res.ignored[reason] = res.ignored.get(reason, 0) + n
            for s in batch.skipped[: max(0, 5 - len(res.skipped_samples))]:
                res.skipped_samples.append(f"{s.where}: {s.reason}")
            if progress:
                progress(source.name, batch, res)
            if should_stop and should_stop():
                log.info("%s: stopping after the current batch", source.name)
                break
    except NeedsReauthError as e:
        res.ok, res.needs_reauth = False, True
        hint = f"syncd auth {source.name}"
        res.error = str(e) if hint in str(e) else f"{e} (run `{hint}`)"
        store.mark_error(source.name, res.error, needs_reauth=True)
        return res
    except (SourceError, UserError) as e:
        res.ok, res.error = False, str(e)
        store.mark_error(source.name, res.error)
        return res
    except SyncdError as e:
        res.ok, res.error = False, str(e)
        store.mark_error(source.name, res.error)
        return res
    store.mark_ok(source.name)
    return res


def sync_all(
    store: Store,
    config: Config,
    names: Iterable[str] | None = None,
    *,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[SyncResult]:
    """Sync the named sources (default: every enabled one), each independently."""
    wanted = list(names) if names else [n for n, s in config.sources.items() if s.get("enabled")]
    unknown = [n for n in wanted if n not in config.sources]
    if unknown:
        known = ", ".join(config.sources) or "none"
        raise UserError(f"unknown source {', '.join(unknown)} (configured: {known})")
    results = []
    for name in wanted:
        if should_stop and should_stop():
            break
        results.append(
            sync_source(
                store, config, config.sources[name], progress=progress, should_stop=should_stop
            )
        )
    return results
