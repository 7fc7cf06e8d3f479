"""The WhatsApp Sandbox: its shared number, and the manual steps that point it at the monitor.

No API sets the Sandbox's webhook URLs ("When a message comes in", "Status callback URL"): the operator
pastes them in the Console. Limits and the join rule: https://www.twilio.com/docs/whatsapp/sandbox
"""

from __future__ import annotations

from dataclasses import dataclass

from .webhook_paths import INBOUND_PATH, STATUS_PATH

WHATSAPP_SANDBOX_NUMBER = "+14155238886"  # shared by every account's Sandbox
WHATSAPP_SANDBOX_CONSOLE_URL = "https://console.twilio.com/us1/develop/sms/settings/whatsapp-sandbox"


@dataclass(frozen=True)
class SandboxInfo:
    inbound_url: str
    status_url: str
    steps: list[str]
    console_url: str = WHATSAPP_SANDBOX_CONSOLE_URL


def sandbox_instructions(public_base: str) -> SandboxInfo:
    """Manual steps for the WhatsApp Sandbox, whose webhook URLs no API can set."""
    # here, not at the top: the receiver reads the Sandbox number (simulate_plan) and need not load the
    # REST client's modules (twilio.rest, requests) that webhook_plan brings
    from .webhook_plan import validate_public_base

    base = validate_public_base(public_base)
    inbound, status = f"{base}{INBOUND_PATH}", f"{base}{STATUS_PATH}"
    steps = [
        f"Open the WhatsApp Sandbox settings in the Twilio Console: {WHATSAPP_SANDBOX_CONSOLE_URL}",
        f"In 'When a message comes in', paste {inbound} and choose POST.",
        f"In 'Status callback URL', paste {status} and choose POST.",
        "Click Save.",
        f"From each test phone, send the sandbox's 'join <code>' message to {WHATSAPP_SANDBOX_NUMBER} "
        "(only joined numbers can receive messages; a join lasts 3 days).",
        "Sandbox limits: about 1 message every 3 seconds; business-initiated messages need a template.",
    ]
    return SandboxInfo(inbound_url=inbound, status_url=status, steps=steps)
