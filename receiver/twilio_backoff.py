"""Twilio's rate limit (HTTP 429, error 20429): wait and try again, a bounded number of times.

Put under a twilio-python ``Client`` (``with_backoff``), every request goes through it, list paging
included, so no caller has to know. ``Retry-After`` is honoured when Twilio sends one; otherwise the waits
grow 1, 2, 4 … seconds. A cancel (``threading.Event``) cuts a wait short.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

log = logging.getLogger("callback_monitor.twilio")


class BackoffHttpClient(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """Wraps the client's HTTP layer: a 429 is retried after ``Retry-After`` (seconds) when Twilio gives
    one, else after 1, 2, 4 … seconds, at most ``tries`` times and never longer than ``max_wait`` per
    wait; then the 429 goes up as the error it is. Waiting is cut short by ``cancel``."""

    def __init__(
        self,
        inner: HttpClient,
        *,
        tries: int = 5,
        base: float = 1.0,
        max_wait: float = 60.0,
        cancel: threading.Event | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        super().__init__(logger=log, is_async=False)
        self.inner, self.tries, self.base, self.max_wait = inner, tries, base, max_wait
        self.cancel = cancel or threading.Event()
        self._sleep = sleep or self.cancel.wait
        self.waits: list[float] = []  # the waits taken, for the report and tests

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        attempt = 0
        while True:
            response: Response = self.inner.request(method, url, *args, **kwargs)
            if response.status_code != 429 or attempt + 1 >= self.tries or self.cancel.is_set():
                return response
            wait = min(self.max_wait, _retry_after(response) or self.base * 2**attempt)
            log.info("Twilio rate limit (429) on %s: waiting %.1f s", method, wait)
            self.waits.append(wait)
            self._sleep(wait)
            attempt += 1


def _retry_after(response: Response) -> float | None:
    headers = response.headers or {}
    value = next((v for k, v in dict(headers).items() if str(k).lower() == "retry-after"), None)
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from Twilio; the exponential wait is fine


def with_backoff(client: Client, cancel: threading.Event | None = None, **kwargs: Any) -> BackoffHttpClient:
    """Put a ``BackoffHttpClient`` under ``client`` (every request, paging included, goes through it)."""
    wrapper = BackoffHttpClient(client.http_client, cancel=cancel, **kwargs)
    client.http_client = wrapper
    return wrapper
