"""Secrets (Twilio auth token / API key secret, ngrok authtoken) live in the OS keyring.

Never in SQLite, settings files, logs or exports. Where no keyring backend exists the secret is kept
for the session only, unless the operator explicitly accepts a weaker store (a 0600 plain-text
keyring file from ``keyrings.alt`` in the user data folder); ``SecretStore.status()`` says which.
That file exists only once the operator accepted it, so its presence is the remembered acceptance:
a later start without a keyring reads it back instead of forgetting every secret.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Literal

import keyring
import keyring.backend
import keyring.errors

from . import paths

SERVICE = "callback-monitor"
Where = Literal["keyring", "weak-file", "session"]

TWILIO_AUTH_TOKEN = "twilio-auth-token"  # the account's primary auth token (signature validation)
TWILIO_ACCOUNT_SID = "twilio-account-sid"  # not secret, but kept with its token
TWILIO_API_KEY_SID = "twilio-api-key-sid"
TWILIO_API_KEY_SECRET = "twilio-api-key-secret"
NGROK_AUTHTOKEN = "ngrok-authtoken"


def _backend_usable(backend: keyring.backend.KeyringBackend) -> bool:
    try:
        priority = float(backend.priority)
    except Exception:
        return False
    name = type(backend).__module__ + "." + type(backend).__name__
    # keyrings.alt backends are files on disk, not a system keyring: only used when accepted explicitly.
    return priority > 0 and not name.startswith(
        ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")
    )


def weak_store_path() -> Path:
    """The plain-text store the operator may accept when there is no keyring."""
    return paths.data_dir() / "secrets.cfg"


class SecretStore:
    """Get and set named secrets. Thread-safe; the GUI and the receiver share one instance."""

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None, *, allow_weak: bool = False):
        self._backend = backend if backend is not None else keyring.get_keyring()
        self._session: dict[str, str] = {}
        self._lock = threading.Lock()
        self._weak: keyring.backend.KeyringBackend | None = None
        if allow_weak or (not self.keyring_available and weak_store_path().exists()):
            self.accept_weak_store()

    @property
    def keyring_available(self) -> bool:
        return _backend_usable(self._backend)

    @property
    def where(self) -> Where:
        """Where a secret set now would be kept."""
        if self.keyring_available:
            return "keyring"
        return "weak-file" if self._weak is not None else "session"

    def status(self) -> str:
        """One sentence for the operator about where secrets go."""
        if self.keyring_available:
            return f"Secrets are kept in the system keyring ({type(self._backend).__name__})."
        if self._weak is not None:
            return (
                "No system keyring: secrets are kept in a plain-text file readable only by you (weaker): "
                f"{self._weak_path}"
            )
        return (
            "No system keyring is available: secrets are kept for this session only and must be entered "
            "again next time (install a keyring service such as gnome-keyring or KWallet, or accept the "
            "weaker file store)."
        )

    def accept_weak_store(self) -> None:
        from keyrings.alt.file import PlaintextKeyring

        weak = PlaintextKeyring()
        weak.file_path = str(weak_store_path())
        self._weak = weak
        self._weak_path = weak.file_path

    def _persistent(self) -> keyring.backend.KeyringBackend | None:
        if self.keyring_available:
            return self._backend
        return self._weak

    def get(self, name: str) -> str | None:
        with self._lock:
            if name in self._session:
                return self._session[name]
        store = self._persistent()
        if store is None:
            return None
        try:
            return store.get_password(SERVICE, name)
        except keyring.errors.KeyringError:
            return None

    def set(self, name: str, value: str) -> Where:
        """Store ``value``; returns where it went."""
        with self._lock:
            self._session[name] = value
        store = self._persistent()
        if store is None:
            return "session"
        try:
            store.set_password(SERVICE, name, value)
        except keyring.errors.KeyringError:
            return "session"
        if store is self._weak:
            try:
                os.chmod(self._weak_path, 0o600)
            except OSError:
                pass
            return "weak-file"
        return "keyring"

    def delete(self, name: str) -> None:
        with self._lock:
            self._session.pop(name, None)
        store = self._persistent()
        if store is None:
            return
        try:
            store.delete_password(SERVICE, name)
        except keyring.errors.KeyringError:
            pass


def auth_token_from_env_or_keyring(store: SecretStore | None = None) -> str | None:
    """The token used to validate signatures: ``TWILIO_AUTH_TOKEN`` first, then the keyring."""
    token = os.environ.get("TWILIO_AUTH_TOKEN")
    if token:
        return token
    return (store or SecretStore()).get(TWILIO_AUTH_TOKEN)


# Shared signing keys (Twilio's Webhooks configuration API): id → secret, one JSON entry in the keyring.
SHARED_KEYS = "twilio-shared-keys"
SHARED_KEYS_ENV = "CALLBACK_MONITOR_SHARED_KEYS"  # "KSxxx:secret,KSyyy:secret" (never a command line)


def parse_shared_keys(text: str) -> dict[str, str]:
    """``"id:secret,id2:secret2"`` → ``{id: secret}``. Raises ValueError naming the bad entry's position
    (never its secret)."""
    keys: dict[str, str] = {}
    for n, entry in enumerate((e.strip() for e in text.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, secret = entry.partition(":")
        if not sep or not key_id.strip() or not secret.strip():
            raise ValueError(f"{SHARED_KEYS_ENV}: entry {n} is not key_id:secret")
        keys[key_id.strip()] = secret.strip()
    return keys


def get_shared_keys(store: SecretStore) -> dict[str, str]:
    raw = store.get(SHARED_KEYS)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def set_shared_keys(store: SecretStore, keys: dict[str, str]) -> Where:
    """Replace the stored shared keys; returns where they went (as ``SecretStore.set``)."""
    if not keys:
        store.delete(SHARED_KEYS)
        return "keyring" if store.keyring_available else "session"
    return store.set(SHARED_KEYS, json.dumps(keys))


def shared_keys_from_env_or_keyring(store: SecretStore | None = None) -> tuple[dict[str, str], str]:
    """The shared keys ``serve`` validates with and where they came from: the environment variable if
    set (ValueError if malformed), else the keyring."""
    env = os.environ.get(SHARED_KEYS_ENV)
    if env:
        return parse_shared_keys(env), SHARED_KEYS_ENV
    return get_shared_keys(store or SecretStore()), "keyring"
