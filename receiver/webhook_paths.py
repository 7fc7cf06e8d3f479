"""The paths Twilio calls on the receiver: written once, for the routes, the wizard, the banners.

The primary paths are what the wizard configures on the account; the legacy aliases are where apps that
used this receiver before configured their webhooks (kept so their numbers need no change), keyed by
channel family.
"""

from __future__ import annotations

STATUS_PATH = "/twilio/status"  # message status callbacks (StatusCallback, a Messaging Service's)
INBOUND_PATH = "/twilio/inbound"  # incoming messages (a number's SMS URL, a service's inbound URL)
FALLBACK_PATH = "/twilio/fallback"  # called when the inbound URL fails: the same request, stored the same
EVENTS_PATH = "/twilio/events"  # Event Streams' webhook sink: a JSON array of CloudEvents

LEGACY_STATUS_PATHS = {"sms": "/api/webhooks/status", "whatsapp": "/api/whatsapp/status-callback"}
LEGACY_INBOUND_PATHS = {"sms": "/api/webhooks/inbound-sms", "whatsapp": "/api/whatsapp/incoming"}

# every path of a kind, the primary first (banners show element 0)
STATUS_PATHS = (STATUS_PATH, *LEGACY_STATUS_PATHS.values())
INBOUND_PATHS = (INBOUND_PATH, FALLBACK_PATH, *LEGACY_INBOUND_PATHS.values())
EVENTS_PATHS = (EVENTS_PATH,)
WEBHOOK_PATHS = STATUS_PATHS + INBOUND_PATHS + EVENTS_PATHS
