"""Twilio's own error dictionary: download, validate, cache with its date, and look codes up in it.

``receiver.errors`` explains ~125 messaging codes in this project's words. Twilio publishes the full
dictionary (~2,000 codes, with its message, causes and solutions) as one JSON array; "Refresh from
Twilio" fetches it, checks it, and keeps it in the user data folder so the richer entry can be shown
beside ours, offline, from then on. A refresh that fails (no network, a truncated or malformed file)
changes nothing: the previous download, or the built-in catalogue, stays in use and the message says
which. Nothing here needs secrets: the dictionary is public.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from receiver.paths import data_dir

DEFAULT_URL = "https://www.twilio.com/docs/api/errors/twilio-error-codes.json"
CACHE_NAME = "twilio-error-codes.json"
TIMEOUT_SECONDS = 20.0
# Twilio's file is ~2 MB with ~2,000 codes. Fewer than this many valid entries means a partial or wrong
# file (an error page, a stub), not a real dictionary; more than this many bytes is not the dictionary.
MIN_ENTRIES = 500
MAX_BYTES = 32 * 1024 * 1024
# Twilio's file is third-party data: a handful of odd entries are skipped; more than this share rejects it.
MAX_BAD_SHARE = 0.02
_TEXT_FIELDS = ("description", "causes", "solutions", "secondary_message", "product")


class DictionaryError(Exception):
    """The downloaded file is not a usable Twilio error dictionary (the message says why)."""


@dataclass(frozen=True)
class TwilioEntry:
    """One code as Twilio describes it. Text fields are Twilio's Markdown; "" when Twilio gives none."""

    code: int
    message: str
    log_level: str
    description: str = ""
    causes: str = ""
    solutions: str = ""
    secondary_message: str = ""
    product: str = ""


@dataclass(frozen=True)
class Dictionary:
    """A validated download: its entries by code, when it was fetched (UTC) and from where."""

    entries: Mapping[int, TwilioEntry]
    fetched_at: datetime
    source: str

    def describe(self) -> str:
        """E.g. "Twilio's dictionary from 2026-12-01 22:30 UTC (1,953 codes)"."""
        return f"Twilio's dictionary from {format_date(self.fetched_at)} ({len(self.entries):,} codes)"


@dataclass(frozen=True)
class RefreshResult:
    ok: bool
    message: str
    dictionary: Dictionary | None


def format_date(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def display_url(url: str) -> str:
    """The URL without any user:password or query, for messages (a configured URL could carry them)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


# ------------------------------------------------------------------ validation
def _entry(item: Any) -> TwilioEntry | None:
    """One array item as an entry; None when a required field is missing or has the wrong type."""
    if not isinstance(item, dict):
        return None
    code, message, level = item.get("code"), item.get("message"), item.get("log_level")
    if isinstance(code, bool) or not isinstance(code, int) or code <= 0:
        return None
    if not isinstance(message, str) or not message.strip() or not isinstance(level, str):
        return None
    texts: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        value = item.get(name)
        if value is not None and not isinstance(value, str):
            return None
        texts[name] = (value or "").strip()
    return TwilioEntry(code=code, message=message.strip(), log_level=level.strip().lower(), **texts)


def parse(raw: bytes) -> dict[int, TwilioEntry]:
    """Validate Twilio's file and return its entries by code; DictionaryError says what is wrong."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DictionaryError("the file is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise DictionaryError(
            f"the file is not valid JSON (truncated or damaged? {exc.msg} at byte {exc.pos})"
        ) from exc
    if not isinstance(data, list):
        raise DictionaryError(f"expected a JSON array of error entries, got a JSON {type(data).__name__}")
    entries: dict[int, TwilioEntry] = {}
    bad = 0
    for item in data:
        entry = _entry(item)
        if entry is None:
            bad += 1
        else:
            entries[entry.code] = entry
    if data and bad / len(data) > MAX_BAD_SHARE:
        raise DictionaryError(
            f"{bad:,} of {len(data):,} entries lack a numeric code, a message or a log level "
            "(not Twilio's format)"
        )
    if len(entries) < MIN_ENTRIES:
        raise DictionaryError(
            f"only {len(entries):,} usable entries (Twilio's dictionary has about 2,000): incomplete file"
        )
    return entries


# ------------------------------------------------------------------ cache
def cache_path() -> Path:
    return data_dir() / CACHE_NAME


def _write_cache(dictionary: Dictionary, path: Path) -> None:
    """Write atomically (temp file in the same folder, fsync, rename): a crash leaves old or new, whole."""
    payload = {
        "fetched_at": dictionary.fetched_at.isoformat(),
        "source": dictionary.source,
        "entries": [vars(entry) for entry in dictionary.entries.values()],
    }
    fd, tmp = tempfile.mkstemp(prefix=".twilio-error-codes-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_cache(path: Path) -> Dictionary | None:
    """The cached download, or None when there is none or it cannot be read (then the built-in one serves)."""
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        fetched_at = datetime.fromisoformat(payload["fetched_at"])
        entries = {}
        for item in payload["entries"]:
            entry = _entry(item)
            if entry is not None:
                entries[entry.code] = entry
        return Dictionary(entries=entries, fetched_at=fetched_at, source=str(payload.get("source", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


_lock = threading.Lock()
# keyed by the data-folder override (tests and portable installs switch it): table cells look codes up
# on every paint, so the common path is one dict read, not a stat or mkdir of the data folder
_loaded: dict[str | None, Dictionary | None] = {}


def _home_key() -> str | None:
    return os.environ.get("CALLBACK_MONITOR_HOME")


def current() -> Dictionary | None:
    """The cached dictionary for this data folder (read once), or None: only the built-in catalogue."""
    key = _home_key()
    loaded = _loaded.get(key, _MISSING)
    if loaded is not _MISSING:
        return loaded  # type: ignore[return-value]
    with _lock:
        if key not in _loaded:
            _loaded[key] = _read_cache(cache_path())
        return _loaded[key]


_MISSING = object()


def entry_for(code: int | None) -> TwilioEntry | None:
    """Twilio's entry for ``code`` from the cached dictionary; None without a download or an entry."""
    if code is None:
        return None
    dictionary = current()
    return dictionary.entries.get(code) if dictionary is not None else None


def status() -> str:
    """What the app explains codes with, for a status line."""
    dictionary = current()
    if dictionary is None:
        return "Built-in catalogue only (Twilio's dictionary not downloaded yet)."
    return f"Built-in catalogue plus {dictionary.describe()}."


# ------------------------------------------------------------------ refresh
def download(url: str, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """GET ``url`` (http or https only) with a timeout and a size cap; errors as OSError/DictionaryError."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DictionaryError("the URL must start with https:// (or http://)")
    request = urllib.request.Request(
        url, headers={"User-Agent": "callback-monitor", "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw: bytes = response.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise DictionaryError(
            f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB: not Twilio's dictionary"
        )
    return raw


def _keeping(previous: Dictionary | None) -> str:
    if previous is None:
        return "keeping the built-in catalogue"
    return f"keeping the catalogue from {format_date(previous.fetched_at)}"


def refresh(url: str | None = None, timeout: float = TIMEOUT_SECONDS) -> RefreshResult:
    """Download, validate and cache Twilio's dictionary; on any failure keep what there is and say so.

    Safe to call from a worker thread. Returns a result whose message is ready for the operator.
    """
    url = (url or "").strip() or DEFAULT_URL
    shown = display_url(url)
    previous = current()
    try:
        raw = download(url, timeout)
        entries = parse(raw)
    except DictionaryError as exc:
        return RefreshResult(
            False, f"The file from {shown} was rejected: {exc} — {_keeping(previous)}.", previous
        )
    except urllib.error.HTTPError as exc:
        return RefreshResult(
            False, f"{shown} answered HTTP {exc.code} {exc.reason} — {_keeping(previous)}.", previous
        )
    except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections, a bad host name
        reason = getattr(exc, "reason", None) or exc
        return RefreshResult(False, f"Could not reach {shown} ({reason}) — {_keeping(previous)}.", previous)
    dictionary = Dictionary(entries=entries, fetched_at=datetime.now(UTC), source=shown)
    path = cache_path()
    try:
        _write_cache(dictionary, path)
    except OSError as exc:
        return RefreshResult(
            False, f"Could not save Twilio's dictionary to {path} ({exc}) — {_keeping(previous)}.", previous
        )
    with _lock:
        _loaded[_home_key()] = dictionary
    return RefreshResult(True, f"Updated: {dictionary.describe()}.", dictionary)


# ------------------------------------------------------------------ text
_LINK_RE = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_HEADING_RE = re.compile(r"^#+\s*", re.MULTILINE)


def plain_text(markdown: str) -> str:
    """Twilio's Markdown as readable plain text: links as "text (url)", no heading marks or bold stars."""
    text = markdown.replace("\r\n", "\n")
    text = _LINK_RE.sub(r"\1 (\2)", text)
    text = _HEADING_RE.sub("", text).replace("**", "").replace("`", "")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def sections(entry: TwilioEntry) -> list[tuple[str, str]]:
    """(heading, plain text) pairs worth showing, in reading order; empty fields and repeats left out."""
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for heading, value in (
        ("Twilio's message", entry.message),
        ("Details", entry.secondary_message),
        ("Description", entry.description),
        ("Possible causes", entry.causes),
        ("Possible solutions", entry.solutions),
    ):
        text = plain_text(value)
        if text and text not in seen:
            seen.add(text)
            out.append((heading, text))
    return out
