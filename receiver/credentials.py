"""Twilio credentials in the keyring: which secrets make a complete set, how they are kept, and the
check against the API that comes before keeping them. Qt-free: the GUI's credentials dialog and the
reconciliation both use it.

Two ways in: Account SID + Auth Token, or an API key (SID + secret) + Account SID. Webhook signatures
are always made with the account's *primary Auth Token*, never with an API key, so with API key
credentials the token is kept separately (``TWILIO_AUTH_TOKEN``: what the receiver validates with).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from receiver import secrets as keys
from receiver.secrets import SecretStore
from receiver.twilio_client import AccountInfo, Credentials, SetupError, verify_credentials

ClientFactory = Callable[[Credentials], Any]


def load_credentials(secrets: SecretStore) -> Credentials | None:
    """The stored credentials, or None when some part is missing."""
    account = secrets.get(keys.TWILIO_ACCOUNT_SID)
    if not account:
        return None
    key_sid, key_secret = secrets.get(keys.TWILIO_API_KEY_SID), secrets.get(keys.TWILIO_API_KEY_SECRET)
    if key_sid and key_secret:
        return Credentials(account, api_key_sid=key_sid, api_key_secret=key_secret)
    token = secrets.get(keys.TWILIO_AUTH_TOKEN)
    return Credentials(account, auth_token=token) if token else None


def save_credentials(
    secrets: SecretStore, creds: Credentials, primary_token: str | None, accept_weak: bool
) -> keys.Where:
    """Keep the credentials; returns where they went ("keyring", "weak-file" or "session")."""
    if accept_weak and not secrets.keyring_available:
        secrets.accept_weak_store()
    where = secrets.set(keys.TWILIO_ACCOUNT_SID, creds.account_sid.strip())
    if creds.uses_api_key:
        secrets.set(keys.TWILIO_API_KEY_SID, (creds.api_key_sid or "").strip())
        secrets.set(keys.TWILIO_API_KEY_SECRET, creds.api_key_secret or "")
        if primary_token:
            secrets.set(keys.TWILIO_AUTH_TOKEN, primary_token.strip())
        else:
            secrets.delete(keys.TWILIO_AUTH_TOKEN)
    else:
        secrets.set(keys.TWILIO_AUTH_TOKEN, (creds.auth_token or "").strip())
        secrets.delete(keys.TWILIO_API_KEY_SID)
        secrets.delete(keys.TWILIO_API_KEY_SECRET)
    return where


def check_credentials(factory: ClientFactory, creds: Credentials, primary_token: str | None) -> AccountInfo:
    """Fetch the account with the credentials (and with the primary token, if given separately)."""
    info = verify_credentials(factory(creds), creds)
    if creds.uses_api_key and primary_token:
        primary = Credentials(creds.account_sid.strip(), auth_token=primary_token.strip())
        try:
            verify_credentials(factory(primary), primary)
        except SetupError as exc:
            raise SetupError(
                "The API key works, but the primary Auth Token (for signature validation) was not "
                f"accepted: {exc.message}",
                code=exc.code,
                http_status=exc.http_status,
            ) from exc
    return info
