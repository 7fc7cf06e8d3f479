"""Refreshing the catalogue from Twilio's error dictionary: download, validation, cache, offline.

The real dictionary file (../shared/reference/twilio-error-codes.json) is served by a local HTTP server;
"offline" is a refused connection or a listener that never answers. The CLI runs in subprocesses with
CALLBACK_MONITOR_HOME in a temp folder, so "survives a restart" means a new process reads the cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from receiver import error_dictionary, errors
from tests.fakes.static_http import refused_url, serve, silent_listener

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "twilio-error-codes.json"
PATH = "/docs/api/errors/twilio-error-codes.json"


@pytest.fixture(scope="module")
def real_bytes() -> bytes:
    return REFERENCE.read_bytes()


def _files(real: bytes) -> dict[str, bytes]:
    items = json.loads(real)
    no_messages = [{k: v for k, v in item.items() if k != "message"} for item in items]
    return {
        PATH: real,
        "/truncated.json": real[: len(real) // 2],
        "/object.json": json.dumps({"entries": items}).encode(),
        "/no-messages.json": json.dumps(no_messages).encode(),
        "/few.json": json.dumps(items[:40]).encode(),
        "/not-json.html": b"<html><body>Service unavailable</body></html>",
    }


@pytest.fixture
def site(real_bytes: bytes):  # type: ignore[no-untyped-def]
    with serve(_files(real_bytes)) as base:
        yield base


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CALLBACK_MONITOR_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "receiver", "errors", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_refresh_from_the_real_dictionary_caches_every_code_with_its_date(site: str) -> None:
    assert error_dictionary.entry_for(30003) is None  # nothing downloaded yet
    result = error_dictionary.refresh(site + PATH)
    assert result.ok, result.message
    assert "1,953 codes" in result.message
    entry = error_dictionary.entry_for(30003)
    assert entry is not None and entry.message == "Unreachable destination handset"
    assert "sufficient signal" in entry.causes
    cached = json.loads(error_dictionary.cache_path().read_text(encoding="utf-8"))
    assert len(cached["entries"]) == 1953 and cached["fetched_at"]
    assert not [p for p in error_dictionary.cache_path().parent.iterdir() if p.suffix == ".tmp"]


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/truncated.json", "not valid JSON (truncated or damaged?"),
        ("/not-json.html", "not valid JSON"),
        ("/object.json", "expected a JSON array"),
        ("/no-messages.json", "lack a numeric code, a message or a log level"),
        ("/few.json", "only 40 usable entries"),
    ],
)
def test_a_bad_file_is_rejected_and_the_previous_download_stays(site: str, path: str, why: str) -> None:
    first = error_dictionary.refresh(site + PATH)
    assert first.ok and first.dictionary is not None
    before = error_dictionary.cache_path().read_bytes()
    result = error_dictionary.refresh(site + path)
    assert not result.ok
    assert why in result.message
    assert "was rejected: " in result.message
    assert (
        f"keeping the catalogue from {error_dictionary.format_date(first.dictionary.fetched_at)}"
        in result.message
    )
    assert error_dictionary.cache_path().read_bytes() == before
    entry = error_dictionary.entry_for(30003)
    assert entry is not None and entry.message == "Unreachable destination handset"


def test_a_bad_file_without_a_previous_download_keeps_the_built_in_catalogue(site: str) -> None:
    result = error_dictionary.refresh(site + "/truncated.json")
    assert not result.ok and "keeping the built-in catalogue" in result.message
    assert not error_dictionary.cache_path().exists()
    assert errors.lookup(30003).title == "Unreachable handset"  # type: ignore[union-attr]


def test_offline_says_could_not_reach_and_keeps_the_previous_download(site: str) -> None:
    first = error_dictionary.refresh(site + PATH)
    assert first.ok and first.dictionary is not None
    url = refused_url()
    result = error_dictionary.refresh(url)
    assert not result.ok
    assert result.message.startswith(f"Could not reach {url}")
    assert "refused" in result.message.lower()
    assert (
        f"keeping the catalogue from {error_dictionary.format_date(first.dictionary.fetched_at)}"
        in result.message
    )
    assert error_dictionary.entry_for(30003) is not None


def test_a_server_that_never_answers_times_out() -> None:
    with silent_listener() as url:
        result = error_dictionary.refresh(url, timeout=0.5)
    assert not result.ok
    assert "Could not reach" in result.message and "timed out" in result.message
    assert "keeping the built-in catalogue" in result.message


def test_a_password_in_the_configured_url_is_never_echoed() -> None:
    url = refused_url().replace("http://", "http://user:s3cr3t-pw@")
    result = error_dictionary.refresh(url + "?token=abc123")
    assert not result.ok
    assert "s3cr3t-pw" not in result.message and "abc123" not in result.message


def test_only_http_urls_are_fetched(tmp_path: Path) -> None:
    local = tmp_path / "codes.json"
    local.write_bytes(REFERENCE.read_bytes())
    result = error_dictionary.refresh(local.as_uri())
    assert not result.ok and "must start with https://" in result.message


def test_the_cache_survives_a_restart_and_shows_its_date(site: str, isolated_home: Path) -> None:
    assert run_cli(isolated_home, "--refresh", "--url", site + PATH).returncode == 0
    code = (
        "from receiver import error_dictionary as d\nprint(d.status())\nprint(d.entry_for(30003).message)\n"
    )
    env = {**os.environ, "CALLBACK_MONITOR_HOME": str(isolated_home)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    fetched_at = json.loads(error_dictionary.cache_path().read_text(encoding="utf-8"))["fetched_at"]
    from datetime import datetime

    date = error_dictionary.format_date(datetime.fromisoformat(fetched_at))
    assert f"Twilio's dictionary from {date} (1,953 codes)" in out.stdout
    assert "Unreachable destination handset" in out.stdout


def test_a_damaged_cache_falls_back_to_the_built_in_catalogue() -> None:
    error_dictionary.cache_path().write_text('{"fetched_at": "2026-', encoding="utf-8")
    assert error_dictionary.current() is None
    assert "Built-in catalogue only" in error_dictionary.status()
    assert errors.lookup(30003).title == "Unreachable handset"  # type: ignore[union-attr]


def test_cli_errors_30003_shows_the_richer_entry_after_a_refresh(site: str, isolated_home: Path) -> None:
    before = run_cli(isolated_home, "30003")
    assert before.returncode == 0 and "Unreachable destination handset" not in before.stdout
    refreshed = run_cli(isolated_home, "--refresh", "--url", site + PATH)
    assert refreshed.returncode == 0, refreshed.stdout + refreshed.stderr
    assert "Updated: Twilio's dictionary from" in refreshed.stdout
    after = run_cli(isolated_home, "30003")
    assert after.returncode == 0
    assert "Unreachable handset" in after.stdout  # our words stay first
    assert "From Twilio's dictionary from" in after.stdout
    assert "Twilio's message:\n  Unreachable destination handset" in after.stdout
    assert "Possible causes:" in after.stdout and "sufficient signal" in after.stdout
    # a code only Twilio knows is now explained (exit 0) under Twilio's own title
    other = run_cli(isolated_home, "22225")
    assert other.returncode == 0 and "22225  From Bundle to Replace Items does not exist" in other.stdout


def test_cli_refresh_offline_says_so_and_keeps_the_built_in_catalogue(isolated_home: Path) -> None:
    out = run_cli(isolated_home, "--refresh", "--url", refused_url())
    assert out.returncode == 1
    assert "Could not reach" in out.stdout and "keeping the built-in catalogue" in out.stdout
    assert "Unreachable handset" in run_cli(isolated_home, "30003").stdout
