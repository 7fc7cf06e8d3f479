"""Property-based: arbitrary forms and bytes thrown at the routes never cause a 5xx, and never cost a
good callback sent in between."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.app import ReceiverConfig, create_app
from receiver.store import Store
from receiver.webhook_paths import EVENTS_PATHS, WEBHOOK_PATHS
from tests.receiver_helpers import FORM, PUBLIC, TOKEN, post, sid, sign, status_params

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
paths = st.sampled_from([*WEBHOOK_PATHS, "/", "/healthz", "/twilio", "/x/../twilio/status"])
text = st.text(max_size=60)
forms = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "MessageSid",
                "MessageStatus",
                "ErrorCode",
                "NumMedia",
                "MediaUrl0",
                "EventType",
                "From",
                "To",
                "Body",
                "SmsStatus",
            ]
        )
        | text,
        text,
    ),
    max_size=12,
)
content_types = st.sampled_from(
    [FORM, "application/json", "text/plain", "", "multipart/form-data", FORM + "; charset=utf-8"]
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Store]]:
    store = Store(tmp_path_factory.mktemp("prop") / "p.db")
    client = create_app(
        store, ReceiverConfig.with_token(TOKEN, public_url=PUBLIC, max_body=4096)
    ).test_client()
    yield client, store
    store.close()


def good_callback_survives(client: FlaskClient, store: Store) -> None:
    s = sid()
    assert post(client, "/twilio/status", status_params(s, "delivered")).status_code == 200
    row = sqlite3.connect(store.path).execute("SELECT status FROM messages WHERE sid = ?", (s,)).fetchone()
    assert row == ("delivered",)


@SETTINGS
@given(path=paths, body=st.binary(max_size=6000), ctype=content_types)
def test_arbitrary_bytes_never_5xx(env: tuple[Any, Store], path: str, body: bytes, ctype: str) -> None:
    client, store = env
    resp = client.post(path, data=body, content_type=ctype or None, headers={"X-Twilio-Signature": "abc"})
    assert resp.status_code < 500
    good_callback_survives(client, store)


# form webhooks only: /twilio/events takes JSON and answers a form 415 (tests/test_event_streams.py)
FORM_PATHS = [p for p in WEBHOOK_PATHS if p not in EVENTS_PATHS]


@SETTINGS
@given(path=st.sampled_from(FORM_PATHS), items=forms, signed=st.booleans())
def test_arbitrary_forms_never_5xx_and_signed_ones_are_answered_properly(
    env: tuple[Any, Store], path: str, items: list[tuple[str, str]], signed: bool
) -> None:
    from urllib.parse import urlencode

    client, store = env
    headers = {"X-Twilio-Signature": sign(PUBLIC + path, items) if signed else "bogus"}
    resp = client.post(path, data=urlencode(items), content_type=FORM, headers=headers)
    assert resp.status_code < 500
    if not signed:
        assert resp.status_code == 403
    else:
        assert resp.status_code in (200, 400)
    good_callback_survives(client, store)
