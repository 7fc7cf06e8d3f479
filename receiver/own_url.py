"""The operator's own public URL (a reverse proxy, a tunnel they run): what Twilio can use as the base of
its webhooks. Qt-free: the GUI's own-URL dialog and the wizard's public-URL page check with it."""

from __future__ import annotations

from receiver.twilio_client import SetupError

from .webhook_plan import validate_public_base

HTTPS_REQUIRED = (
    "Plain http:// is refused: a live number needs https (Twilio sends message bodies and signatures "
    "over it, and Twilio rejects http webhooks on many accounts). Put TLS in front — your reverse "
    "proxy's https address, or the https URL of a tunnel — and enter that."
)


def check_own_url(url: str) -> str:
    """The operator's own public base URL, cleaned; raises ``SetupError`` saying what is wrong with it
    (not https, an underscore in the host, localhost or a private address)."""
    clean = validate_public_base(url)
    if not clean.lower().startswith("https://"):
        raise SetupError(HTTPS_REQUIRED)
    return clean
