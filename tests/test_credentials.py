"""Twilio credentials in the core (receiver/credentials.py): what makes a complete set, where each secret
goes, and the check against Twilio's API (the real twilio client pointed at the fake)."""

from __future__ import annotations

import pytest

from receiver import secrets as keys
from receiver.credentials import check_credentials, load_credentials, save_credentials
from receiver.secrets import SecretStore
from receiver.twilio_client import Credentials, SetupError, make_client
from tests.conftest import MemoryKeyring
from tests.fakes import fake_twilio as fakes
from tests.fakes.fake_twilio import FakeTwilio

fake_twilio = fakes.fake_twilio


def test_a_partial_set_is_no_credentials() -> None:
    secrets = SecretStore(MemoryKeyring())
    assert load_credentials(secrets) is None
    secrets.set(keys.TWILIO_ACCOUNT_SID, "AC" + "1" * 32)
    assert load_credentials(secrets) is None  # no token, no key: nothing to call Twilio with
    secrets.set(keys.TWILIO_API_KEY_SID, "SK" + "2" * 32)
    assert load_credentials(secrets) is None  # a key without its secret


def test_api_key_credentials_keep_the_primary_token_apart_and_replace_an_old_token() -> None:
    secrets = SecretStore(MemoryKeyring())
    account = "AC" + "1" * 32
    save_credentials(secrets, Credentials(account, auth_token="old-token"), None, accept_weak=False)
    key = Credentials(account, api_key_sid=" SK" + "2" * 32 + " ", api_key_secret="key-secret")
    where = save_credentials(secrets, key, " primary-token ", accept_weak=False)
    assert where == "keyring"
    loaded = load_credentials(secrets)
    assert loaded is not None and loaded.uses_api_key
    assert loaded.api_key_sid == "SK" + "2" * 32  # stripped as typed into a form
    assert secrets.get(keys.TWILIO_AUTH_TOKEN) == "primary-token"  # what signatures are checked with
    save_credentials(secrets, key, None, accept_weak=False)
    assert secrets.get(keys.TWILIO_AUTH_TOKEN) is None  # no stale token validating callbacks


def test_back_to_a_token_forgets_the_api_key() -> None:
    secrets = SecretStore(MemoryKeyring())
    account = "AC" + "1" * 32
    key = Credentials(account, api_key_sid="SK" + "2" * 32, api_key_secret="key-secret")
    save_credentials(secrets, key, "primary", accept_weak=False)
    save_credentials(secrets, Credentials(account, auth_token="token"), None, accept_weak=False)
    loaded = load_credentials(secrets)
    assert loaded is not None and not loaded.uses_api_key and loaded.auth_token == "token"
    assert secrets.get(keys.TWILIO_API_KEY_SECRET) is None


def test_check_accepts_the_accounts_token_and_names_a_wrong_one(fake_twilio: FakeTwilio) -> None:
    def factory(creds: Credentials) -> object:
        return make_client(creds, api_base=fake_twilio.base_url)

    good = Credentials(fake_twilio.account_sid, auth_token=fake_twilio.auth_token)
    assert check_credentials(factory, good, None).sid == fake_twilio.account_sid
    with pytest.raises(SetupError):
        check_credentials(factory, Credentials(fake_twilio.account_sid, auth_token="wrong"), None)
