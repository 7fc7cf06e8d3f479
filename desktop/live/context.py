"""What the wizard pages, the send dialog and the restore/re-point actions share: the receiver, the
tunnel, the keyring, settings, the background runner and how to make a Twilio client.

``client_factory`` defaults to ``twilio_client.make_client`` (which honours
``CALLBACK_MONITOR_TWILIO_API_BASE``); tests pass one bound to the fake Twilio's address instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QSettings

from desktop.live.tunnel_controller import TunnelController
from desktop.receiver_controller import ReceiverController
from desktop.workers import TaskRunner
from receiver import send_test_message
from receiver.credentials import load_credentials
from receiver.reachability import Reach
from receiver.secrets import SecretStore
from receiver.store import Store
from receiver.twilio_client import Credentials, SetupError, make_client

ClientFactory = Callable[[Credentials], Any]

ON_EXIT_KEY = "live/on_exit"  # "restore" | "ask" | "keep"
ON_EXIT_CHOICES = (
    ("restore", "Restore the previous webhooks"),
    ("ask", "Ask me"),
    ("keep", "Keep the monitor's webhooks"),
)
AUTO_REPOINT_KEY = "live/auto_repoint"
OVERRIDES_KEY = "live/overrides"


def default_factory(creds: Credentials) -> Any:
    return make_client(creds)


@dataclass
class SetupContext:
    controller: ReceiverController
    tunnel: TunnelController
    secrets: SecretStore
    settings: QSettings
    runner: TaskRunner
    client_factory: ClientFactory = field(default=default_factory)
    # does an own public URL reach this receiver? (blocks: worker threads only); None: not checked
    probe: Callable[[str], Reach] | None = None

    def credentials(self) -> Credentials:
        creds = load_credentials(self.secrets)
        if creds is None:
            raise SetupError("No Twilio credentials yet: enter them first (Tools → Twilio credentials…).")
        return creds

    def client(self) -> Any:
        return self.client_factory(self.credentials())

    def send_and_record(self, to: str, body: str, sender: str) -> dict[str, Any]:
        """Send the test message with status callbacks to the public URL (blocks: worker threads only)."""
        base = self.tunnel.public_url or self.controller.webhook_base
        return send_test_message.send_and_record(self.client(), self.store(), base, to, body, sender)

    def store(self) -> Store:
        if self.controller.store is None:
            raise SetupError("The receiver is not running; start it first.")
        return self.controller.store

    @property
    def on_exit(self) -> str:
        value = str(self.settings.value(ON_EXIT_KEY, "restore"))
        return value if value in {c for c, _ in ON_EXIT_CHOICES} else "restore"

    @property
    def auto_repoint(self) -> bool:
        return str(self.settings.value(AUTO_REPOINT_KEY, "false")).lower() == "true"

    @property
    def overrides(self) -> str:
        return str(self.settings.value(OVERRIDES_KEY, "") or "")
