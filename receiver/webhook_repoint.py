"""Re-pointing the webhooks the app set to a new public base URL (the free tunnel URL moved, or the
operator switched to their own URL). Qt-free; blocks on Twilio's REST API, so the GUI runs it off its
thread.
"""

from __future__ import annotations

from typing import Any

from receiver.store import Store

from .webhook_apply import ApplyResult, apply_plan, repoint_event_streams
from .webhook_plan import plan_changes
from .webhook_targets import list_targets


def repoint(client: Any, store: Store, account_sid: str, new_base: str, overrides: str) -> ApplyResult:
    """Point every target the app changed (and has not restored) at ``new_base``. Runs off the GUI thread.

    The new backups record the old tunnel URLs as "previous"; restore goes newest first, so the chain
    unwinds back to the operator's original values.
    """
    sids = list(dict.fromkeys(b["target_sid"] for b in store.pending_backups(account_sid)))
    targets = list_targets(client)
    present = [sid for sid in sids if targets.get(sid) is not None]
    changes = plan_changes(targets, present, new_base, overrides)
    result = apply_plan(client, store, account_sid, changes)
    repoint_event_streams(client, store, account_sid, new_base)  # only if the wizard turned it on
    return result
