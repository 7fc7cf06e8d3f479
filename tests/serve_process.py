"""``callback-monitor`` in a subprocess, as an operator runs it: the environment it gets, one-shot commands,
and ``serve`` read up to its "Listening on" line. Shared by the CLI and integrity tests."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.receiver_helpers import TOKEN, http_post

LISTENING = re.compile(r"Listening on http://127\.0\.0\.1:(\d+)")


def cli_env(tmp_path: Path, token: str | None = TOKEN) -> dict[str, str]:
    """This process's environment with the data folder under ``tmp_path``, no display, and
    ``TWILIO_AUTH_TOKEN`` set to ``token`` (removed when None)."""
    env = dict(os.environ)
    env.update({"CALLBACK_MONITOR_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"})
    env.pop("TWILIO_AUTH_TOKEN", None)
    if token is not None:
        env["TWILIO_AUTH_TOKEN"] = token
    env.pop("DISPLAY", None)
    return env


def run_cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``callback-monitor <args>`` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "receiver", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else cli_env(tmp_path),
        timeout=timeout,
    )


class ServeProcess:
    """``callback-monitor <args>`` (a ``serve``) in a subprocess, read up to its "Listening on" line.

    ``port`` is None when it exited instead of listening (``stderr`` then says why). ``fsize_limit`` sets
    RLIMIT_FSIZE in the child: a real "file too large" from the kernel, as writes fail on a full disk.
    Callbacks are signed for ``signed_for`` (the public URL Twilio would call).
    """

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str],
        *,
        signed_for: str | None = None,
        fsize_limit: int | None = None,
    ) -> None:
        def limit() -> None:
            if fsize_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

        self.signed_for = signed_for
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "receiver", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=limit if fsize_limit is not None else None,
        )
        self.out: list[str] = []
        self.stderr = ""
        self.port: int | None = None
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.out.append(line)
            match = LISTENING.match(line)
            if match:
                self.port = int(match.group(1))
                return
        self.stop()

    def listening(self) -> ServeProcess:
        """Self, or an AssertionError saying what serve wrote when it exited instead of listening."""
        if self.port is None:
            raise AssertionError("serve exited before listening: " + self.banner + self.stderr)
        return self

    @property
    def banner(self) -> str:
        """All serve wrote on stdout so far (the rest is collected by ``stop``)."""
        return "".join(self.out)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, path: str, params: dict[str, str]) -> int:
        """A signed Twilio-like form POST; returns the HTTP status."""
        return int(http_post(self.url, path, params, signed_for=self.signed_for))

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the server, wait, and collect what it wrote (pipes closed: no ResourceWarning)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rest, self.stderr = self.proc.communicate(timeout=30)
        self.out.append(rest)
        return int(self.proc.returncode)
