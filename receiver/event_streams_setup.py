"""Turning Event Streams on and off for the monitor: a webhook sink at ``<public URL>/twilio/events`` and a
subscription to the outbound message events (Events v1 REST, ``twilio_events_v1.json``).

Same safety rule as the webhook targets (webhook_apply.py): the backup row (``webhook_backups``,
``target_kind = 'event_stream'``) is written *before* anything is created, so a crash between the REST
calls still leaves enough on disk for ``restore_all`` to find and delete what exists. The row does not
need the SIDs: restore finds our sinks by their description and destination, which is also what makes a
second apply reuse a sink instead of doubling every delivery. The destination is stored without any
``user:password`` (secrets stay in the keyring).

The sink is created with ``batch_events`` off: one CloudEvent per request keeps every delivery far below
the receiver's body limit (receiver/app.py), which bounds what any unauthenticated caller can make it buffer.
"""

from __future__ import annotations

from typing import Any, Protocol

from .event_streams import MESSAGE_EVENT_TYPES
from .public_url import split_userinfo
from .twilio_client import SetupError, twilio_call
from .webhook_paths import EVENTS_PATH

KIND_EVENT_STREAM = "event_stream"
SINK_DESCRIPTION = "Callback Monitor message events"
TARGET_NAME = "Event Streams (message events)"


class BackupStore(Protocol):
    def save_backups(self, account_sid: str, items: list[dict[str, Any]]) -> list[int]: ...

    def pending_backups(self, account_sid: str | None = None) -> list[dict[str, Any]]: ...

    def mark_restored(self, backup_id: int) -> None: ...


def destination_for(public_base: str) -> str:
    """The sink URL for a validated public base (credentials kept: Twilio sends them as Basic auth)."""
    return public_base.rstrip("/") + EVENTS_PATH


def _clean(url: str) -> str:
    return split_userinfo(url)[0] or url


def _our_sinks(client: Any, destination: str) -> list[Any]:
    clean = _clean(destination)
    found = []
    for sink in client.events.v1.sinks.list():
        config = sink.sink_configuration if isinstance(sink.sink_configuration, dict) else {}
        dest = str(config.get("destination") or "")
        if sink.sink_type == "webhook" and sink.description == SINK_DESCRIPTION and _clean(dest) == clean:
            found.append(sink)
    return found


def _delete_sink(client: Any, sink_sid: str) -> None:
    for sub in client.events.v1.subscriptions.list(sink_sid=sink_sid):
        client.events.v1.subscriptions(sub.sid).delete()
    client.events.v1.sinks(sink_sid).delete()


def apply(client: Any, store: BackupStore, account_sid: str, public_base: str) -> str:
    """Create (or reuse) the sink and its subscription for ``public_base``; returns the sink SID. On a
    failure, whatever this call created is deleted and SetupError explains."""
    destination = destination_for(public_base)
    clean = _clean(destination)
    with twilio_call("looking for an existing Event Streams sink"):
        existing = _our_sinks(client, destination)
    for sink in existing:
        with twilio_call("reading the Event Streams subscriptions"):
            if client.events.v1.subscriptions.list(sink_sid=sink.sid, limit=1):
                return str(sink.sid)  # already on: nothing to do, and no backup (an earlier one covers it)
    [backup_id] = store.save_backups(
        account_sid,
        [
            {
                "target_kind": KIND_EVENT_STREAM,
                "target_sid": clean,
                "target_name": TARGET_NAME,
                "previous": {},
                "applied": {"destination": clean, "types": list(MESSAGE_EVENT_TYPES)},
            }
        ],
    )
    sink_sid: str | None = existing[0].sid if existing else None
    try:
        if sink_sid is None:
            with twilio_call("creating the Event Streams sink"):
                sink = client.events.v1.sinks.create(
                    description=SINK_DESCRIPTION,
                    sink_configuration={"destination": destination, "method": "POST", "batch_events": False},
                    sink_type="webhook",
                )
            sink_sid = str(sink.sid)
        with twilio_call("subscribing the sink to message events"):
            client.events.v1.subscriptions.create(
                description=SINK_DESCRIPTION,
                sink_sid=sink_sid,
                types=[{"type": t} for t in MESSAGE_EVENT_TYPES],
            )
    except SetupError as exc:
        note = " Nothing was left on the account."
        if sink_sid is not None:
            try:
                with twilio_call("deleting the sink again"):
                    _delete_sink(client, sink_sid)
            except SetupError as undo:
                note = f" The sink {sink_sid} could not be deleted ({undo.message}); Restore retries it."
                raise SetupError(exc.message + note, code=exc.code, http_status=exc.http_status) from exc
        store.mark_restored(backup_id)
        raise SetupError(exc.message + note, code=exc.code, http_status=exc.http_status) from exc
    return sink_sid


def repoint(client: Any, store: BackupStore, account_sid: str, public_base: str) -> list[str]:
    """The tunnel's URL changed: if Event Streams is on, a sink for the new URL first, then the sinks for
    the old ones deleted (they would only fill Twilio's Debugger with failed deliveries)."""
    old = [b for b in store.pending_backups(account_sid) if b["target_kind"] == KIND_EVENT_STREAM]
    if not old:
        return []
    apply(client, store, account_sid, public_base)
    new = _clean(destination_for(public_base))
    report = []
    for backup in old:
        if backup["applied"].get("destination") != new:
            report += restore(client, store, backup)
    return report


def restore(client: Any, store: BackupStore, backup: dict[str, Any]) -> list[str]:
    """Delete the sinks (and their subscriptions) a backup row stands for; report lines. The row stays
    pending when Twilio cannot be asked, so a later restore retries."""
    destination = str(backup["applied"].get("destination") or backup["target_sid"])
    try:
        with twilio_call("deleting the Event Streams sink"):
            sinks = _our_sinks(client, destination)
            for sink in sinks:
                _delete_sink(client, str(sink.sid))
    except SetupError as exc:
        return [f"{TARGET_NAME} not turned off yet: {exc.message}"]
    store.mark_restored(backup["id"])
    if not sinks:
        return [f"{TARGET_NAME}: no sink of ours left on the account; nothing to delete."]
    return [f"Turned off {TARGET_NAME}: deleted sink {', '.join(str(s.sid) for s in sinks)}."]
