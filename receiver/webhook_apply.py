"""Changing a live account: apply a webhook plan, and restore what it changed.

Safety rule: the previous values of every target are written to the store (``webhook_backups``)
*before* the first update, so a crash mid-way still leaves enough on disk for ``restore_all`` to put the
account back. Restore only touches fields whose current value is still what we applied; anything the
operator changed since is left alone and reported. Event Streams sinks follow the same rule
(receiver/event_streams_setup.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from twilio.rest import Client

from . import event_streams_setup
from .twilio_client import SetupError, twilio_call
from .webhook_plan import Change, same_value, validate_public_base
from .webhook_targets import KIND_NUMBER, NUMBER_FIELDS, SERVICE_FIELDS, opt_str


class BackupStore(Protocol):
    """The three ``Store`` methods apply/restore need (``webhook_backups`` table)."""

    def save_backups(self, account_sid: str, items: list[dict[str, Any]]) -> list[int]: ...

    def pending_backups(self, account_sid: str | None = None) -> list[dict[str, Any]]: ...

    def mark_restored(self, backup_id: int) -> None: ...


@dataclass(frozen=True)
class ApplyResult:
    backup_ids: list[int]
    changes: list[Change]

    @property
    def target_sids(self) -> list[str]:
        return list(dict.fromkeys(c.target_sid for c in self.changes))


def _fetch_values(client: Client, kind: str, sid: str) -> dict[str, str | None]:
    if kind == KIND_NUMBER:
        n = client.incoming_phone_numbers(sid).fetch()
        return {f: opt_str(getattr(n, f)) for f in NUMBER_FIELDS}
    s = client.messaging.v1.services(sid).fetch()
    return {f: opt_str(getattr(s, f)) for f in SERVICE_FIELDS}


def _update(client: Client, kind: str, sid: str, values: dict[str, str | None]) -> None:
    # twilio-python drops None-valued params, so an unset URL must be sent as "" to clear it.
    params = {k: ("" if v is None else v) for k, v in values.items()}
    if kind == KIND_NUMBER:
        client.incoming_phone_numbers(sid).update(**params)
    else:
        client.messaging.v1.services(sid).update(**params)


def apply_plan(client: Client, store: BackupStore, account_sid: str, changes: list[Change]) -> ApplyResult:
    """Back up, then apply ``changes``; on a failure, undo what was already changed and raise."""
    grouped: dict[str, list[Change]] = {}
    for change in changes:
        grouped.setdefault(change.target_sid, []).append(change)
    items: list[dict[str, Any]] = []
    for sid, target_changes in grouped.items():
        first = target_changes[0]
        with twilio_call(f"reading the current settings of {first.target_name}"):
            current = _fetch_values(client, first.target_kind, sid)
        items.append(
            {
                "target_kind": first.target_kind,
                "target_sid": sid,
                "target_name": first.target_name,
                # Fresh values, not the plan's: the plan may be minutes old.
                "previous": {c.field: current[c.field] for c in target_changes},
                "applied": {c.field: c.new for c in target_changes},
            }
        )
    ids = store.save_backups(account_sid, items) if items else []
    done: list[int] = []
    for index, item in enumerate(items):
        try:
            with twilio_call(f"updating {item['target_name']}"):
                _update(client, item["target_kind"], item["target_sid"], item["applied"])
        except SetupError as exc:
            problems = _roll_back(client, store, [(items[i], ids[i]) for i in done])
            for pending in ids[index:]:
                store.mark_restored(pending)  # never applied: nothing to restore later
            note = (
                " Everything already changed was put back."
                if not problems
                else (" Could not put back: " + " ".join(problems) + " Use Restore to retry.")
            )
            raise SetupError(f"{exc.message}{note}", code=exc.code, http_status=exc.http_status) from exc
        done.append(index)
    return ApplyResult(backup_ids=ids, changes=list(changes))


def apply_event_streams(client: Client, store: BackupStore, account_sid: str, public_base: str) -> str:
    """Subscribe a webhook sink at the public URL to message events (receiver/event_streams_setup.py)."""
    return event_streams_setup.apply(client, store, account_sid, validate_public_base(public_base))


def repoint_event_streams(
    client: Client, store: BackupStore, account_sid: str, public_base: str
) -> list[str]:
    """Move the monitor's Event Streams sink (if it made one) to a new public URL."""
    return event_streams_setup.repoint(client, store, account_sid, validate_public_base(public_base))


def _roll_back(client: Client, store: BackupStore, applied: list[tuple[dict[str, Any], int]]) -> list[str]:
    problems: list[str] = []
    for item, backup_id in reversed(applied):
        try:
            with twilio_call(f"restoring {item['target_name']}"):
                _update(client, item["target_kind"], item["target_sid"], item["previous"])
        except SetupError as exc:
            problems.append(f"{item['target_name']}: {exc.message}")
            continue
        store.mark_restored(backup_id)
    return problems


def restore_all(client: Client, store: BackupStore, account_sid: str) -> list[str]:
    """Put back every pending backup (newest first); returns one report line per target or field kept.

    A field is restored only if it still holds the value we applied. Backups whose target is gone are
    marked restored; ones that fail for another reason stay pending so a later run retries them.
    """
    report: list[str] = []
    backups = sorted(store.pending_backups(account_sid), key=lambda b: b["id"], reverse=True)
    for backup in backups:
        kind, sid, name = backup["target_kind"], backup["target_sid"], backup["target_name"]
        if kind == event_streams_setup.KIND_EVENT_STREAM:  # a sink + subscription we created: delete them
            report += event_streams_setup.restore(client, store, backup)
            continue
        applied: dict[str, str | None] = backup["applied"]
        previous: dict[str, str | None] = backup["previous"]
        try:
            with twilio_call(f"reading the current settings of {name}"):
                current = _fetch_values(client, kind, sid)
        except SetupError as exc:
            if exc.http_status == 404:
                store.mark_restored(backup["id"])
                report.append(f"{name} ({sid}) no longer exists on the account; nothing to restore.")
            else:
                report.append(f"{name} ({sid}) not restored yet: {exc.message}")
            continue
        to_restore: dict[str, str | None] = {}
        for field_name, applied_value in applied.items():
            if same_value(field_name, current.get(field_name), applied_value):
                to_restore[field_name] = previous.get(field_name)
            else:
                report.append(
                    f"{name}: left {field_name} as it is — it was changed since the wizard set it "
                    f"(now {current.get(field_name) or 'empty'!s})."
                )
        if to_restore:
            try:
                with twilio_call(f"restoring {name}"):
                    _update(client, kind, sid, to_restore)
            except SetupError as exc:
                report.append(f"{name} ({sid}) not restored yet: {exc.message}")
                continue
            report.append(f"Restored {name}: {', '.join(to_restore)}.")
        store.mark_restored(backup["id"])
    return report
