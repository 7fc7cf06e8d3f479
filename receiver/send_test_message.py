"""The set-up's test message: who can send it, and sending it so that its status callbacks find the
message already stored (with the status the API returned). Qt-free; blocks on Twilio's REST API."""

from __future__ import annotations

from typing import Any

from receiver.store import Store

from .sandbox import WHATSAPP_SANDBOX_NUMBER
from .sending import send_message
from .webhook_paths import STATUS_PATH
from .webhook_targets import Targets

SANDBOX_FROM = f"whatsapp:{WHATSAPP_SANDBOX_NUMBER}"


def sender_choices(targets: Targets | None) -> list[tuple[str, str]]:
    """(label, sender) for every way to send: Messaging Services (MG…), numbers, the Sandbox."""
    out: list[tuple[str, str]] = []
    for service in targets.services if targets else []:
        out.append((f"Messaging Service {service.name}", service.sid))
    for number in targets.numbers if targets else []:
        out.append((f"Number {number.name}", number.phone_number))
    out.append((f"WhatsApp Sandbox ({WHATSAPP_SANDBOX_NUMBER})", SANDBOX_FROM))
    return out


def send_and_record(
    client: Any, store: Store, webhook_base: str, to: str, body: str, sender: str
) -> dict[str, Any]:
    """Send with status callbacks to ``webhook_base``, then store the message as the API returned it.

    ``sender`` is a Messaging Service SID (MG…) or a From address (+1…, whatsapp:+1…)."""
    service = sender.startswith("MG")
    row = send_message(
        client,
        to=to,
        body=body,
        from_=None if service else sender,
        messaging_service_sid=sender if service else None,
        status_callback=f"{webhook_base}{STATUS_PATH}",
    )
    store.record_outbound(row)
    return row
