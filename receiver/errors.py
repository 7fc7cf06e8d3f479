"""Twilio error catalogue: what an ErrorCode on a callback means and what the operator should do.

The data lives in ``resources/error_codes.json`` (built by ``tools/build_error_codes.py``) and is
written in this project's own words; Twilio's per-code page is always linked. The file is read once,
lazily, so importing this module costs nothing until a code is looked up.

Codes we do not describe still get an entry (``known=False``) with Twilio's link, because Twilio adds
codes faster than any bundled list can follow ("Cannot rely on a static error code list"). The GUI
calls ``short_title`` for table cells and ``lookup`` for details; the CLI subcommand
``callback-monitor errors`` is ``cli``.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TextIO

from receiver import error_dictionary
from receiver.paths import resource_path

URL_TEMPLATE = "https://www.twilio.com/docs/api/errors/{code}"
RESOURCE_NAME = "error_codes.json"

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_WRAP_WIDTH = 100


@dataclass(frozen=True)
class ErrorEntry:
    """One Twilio error code, explained for an operator.

    ``known`` is False for codes missing from the bundled catalogue; such entries carry only the
    generic text and Twilio's link. ``log_level`` is "error" or "warning" (Twilio's own level), so
    the GUI can colour warnings differently.
    """

    code: int
    title: str
    cause: str
    action: str
    url: str
    known: bool
    tags: tuple[str, ...]
    log_level: str = "error"


def url_for(code: int) -> str:
    """Twilio's documentation page for ``code`` (it exists for every code Twilio defines)."""
    return URL_TEMPLATE.format(code=code)


def parse_code(value: int | str | None) -> int | None:
    """Normalise ``30003``, ``"30003"`` or ``" 30003 "`` to an int; None for anything else.

    Callback payloads deliver ErrorCode as a string and the store keeps it as an integer, so both
    shapes must work. Booleans and negative numbers are rejected (``True`` is an int in Python).
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    text = value.strip()
    return int(text) if text.isdigit() and text.isascii() else None


def _entry_from_json(item: Mapping[str, Any]) -> ErrorEntry:
    code = int(item["code"])
    return ErrorEntry(
        code=code,
        title=str(item["title"]),
        cause=str(item["cause"]),
        action=str(item["action"]),
        url=str(item.get("url") or url_for(code)),
        known=True,
        tags=tuple(str(tag) for tag in item.get("tags", ())),
        log_level=str(item.get("log_level", "error")),
    )


@cache
def _catalogue() -> dict[int, ErrorEntry]:
    """Load the bundled catalogue once; keyed by code, in code order."""
    data = json.loads(resource_path(RESOURCE_NAME).read_text(encoding="utf-8"))
    entries = (_entry_from_json(item) for item in data["entries"])
    return {entry.code: entry for entry in sorted(entries, key=lambda e: e.code)}


def _unknown_entry(code: int) -> ErrorEntry:
    twilio = error_dictionary.entry_for(code)
    if twilio is not None:
        return ErrorEntry(
            code=code,
            title=twilio.message,
            cause="This code is not in the app's own catalogue (it covers messaging); Twilio's dictionary "
            "explains it" + (f" ({twilio.product})." if twilio.product else "."),
            action="Read Twilio's explanation below, or its page for the code (link below).",
            url=url_for(code),
            known=False,
            tags=(),
            log_level=twilio.log_level if twilio.log_level in ("error", "warning") else "error",
        )
    return ErrorEntry(
        code=code,
        title=f"Unknown error code {code}",
        cause="This code is not in the app's bundled catalogue; it may be newer than the catalogue "
        "or belong to a Twilio product outside messaging. 'Refresh from Twilio' downloads Twilio's list.",
        action="Open Twilio's page for the code (link below) for the current explanation.",
        url=url_for(code),
        known=False,
        tags=(),
    )


def lookup(code: int | str | None) -> ErrorEntry | None:
    """The entry for ``code``; None when there is no code (None, empty, or not a number)."""
    number = parse_code(code)
    if number is None:
        return None
    return _catalogue().get(number) or _unknown_entry(number)


def all_entries() -> list[ErrorEntry]:
    """Every catalogued entry, in code order."""
    return list(_catalogue().values())


def short_title(code: int | str | None) -> str:
    """Compact text for a table cell, e.g. "30003 Unreachable handset"; "" when there is no code."""
    number = parse_code(code)
    if number is None:
        return ""
    entry = _catalogue().get(number)
    if entry is not None:
        return f"{number} {entry.title}"
    twilio = error_dictionary.entry_for(number)
    return f"{number} {twilio.message}" if twilio is not None else f"{number} Unknown error code"


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(text.lower())


def _words_match(words: Iterable[str], tokens: Iterable[str]) -> bool:
    """True if every query word is a prefix of some token ("unreach" finds "unreachable")."""
    pool = set(tokens)
    return all(any(token.startswith(word) for token in pool) for word in words)


def search(query: str, limit: int = 50) -> list[ErrorEntry]:
    """Catalogue entries matching ``query``, best first, at most ``limit``.

    A number matches a code exactly or as a prefix ("300" lists 300xx). Words must all match
    (case-insensitive, as word prefixes) somewhere in the code, title, cause, action or tags.
    Ranking: exact code, then code prefix, then title matches, then title-or-tag matches, then
    matches in the explanatory text; ties by code.
    """
    words = _tokens(query)
    if not words or limit <= 0:
        return []
    ranked: list[tuple[int, int, ErrorEntry]] = []
    for entry in _catalogue().values():
        code_text = str(entry.code)
        title_tokens = _tokens(entry.title)
        tag_tokens = [tok for tag in entry.tags for tok in _tokens(tag)]
        body_tokens = _tokens(f"{entry.cause} {entry.action}")
        all_tokens = [code_text, *title_tokens, *tag_tokens, *body_tokens]
        if not _words_match(words, all_tokens):
            continue
        if len(words) == 1 and words[0] == code_text:
            rank = 0
        elif len(words) == 1 and code_text.startswith(words[0]):
            rank = 1
        elif _words_match(words, title_tokens):
            rank = 2
        elif _words_match(words, [*title_tokens, *tag_tokens]):
            rank = 3
        else:
            rank = 4
        ranked.append((rank, entry.code, entry))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in ranked[:limit]]


def _wrap(label: str, text: str) -> str:
    return textwrap.fill(f"{label} {text}", width=_WRAP_WIDTH, subsequent_indent="  ")


def format_entry(entry: ErrorEntry) -> str:
    """A plain-text block for the terminal: heading, cause, action, tags, link."""
    level = "" if entry.log_level == "error" else f" ({entry.log_level})"
    lines = [
        f"{entry.code}  {entry.title}{level}",
        _wrap("Cause:", entry.cause),
        _wrap("What to do:", entry.action),
    ]
    if entry.tags:
        lines.append(f"Tags: {', '.join(entry.tags)}")
    lines.append(f"More: {entry.url}")
    twilio = error_dictionary.entry_for(entry.code)
    dictionary = error_dictionary.current()
    if twilio is not None and dictionary is not None:
        lines.append(f"\nFrom {dictionary.describe()}:")
        for heading, text in error_dictionary.sections(twilio):
            lines.append(f"{heading}:")
            lines.extend(textwrap.indent(_fill_paragraphs(text), "  ").splitlines())
    return "\n".join(lines)


def _fill_paragraphs(text: str) -> str:
    """Wrap each line of Twilio's text on its own (its bullet lists stay one item a line)."""
    return "\n".join(
        textwrap.fill(line, width=_WRAP_WIDTH - 2, subsequent_indent="  ") if line.strip() else ""
        for line in text.splitlines()
    )


_USAGE = (
    "usage: callback-monitor errors CODE [CODE ...] | WORDS... | --refresh [--url URL]\n"
    "  CODE       explain a Twilio error code, e.g. 30003\n"
    "  WORDS      list catalogue entries matching all words, e.g. 'whatsapp template'\n"
    "  --refresh  download Twilio's full error dictionary and keep it for offline use;\n"
    "             its text is then shown beside ours (--url: another address for the file)\n"
)


def _refresh_cli(argv: list[str], out: TextIO) -> int:
    """``errors --refresh [--url URL]``: 0 when the dictionary was updated, 1 when the old one was kept."""
    url: str | None = None
    rest = argv[1:]
    if rest[:1] == ["--url"] and len(rest) == 2:
        url = rest[1]
    elif len(rest) == 1 and rest[0].startswith("--url="):
        url = rest[0].split("=", 1)[1]
    elif rest:
        out.write(_USAGE)
        return 2
    result = error_dictionary.refresh(url)
    out.write(result.message + "\n")
    return 0 if result.ok else 1


def cli(argv: list[str], out: TextIO) -> int:
    """``callback-monitor errors``: explain codes or search the catalogue.

    Numbers print their entries; a lone number that is not a catalogued code but starts some ("300")
    lists those codes instead. Words list the matching entries (the full entry if only one matches).
    Exit status follows grep: 0 when something from the catalogue (ours, or Twilio's downloaded
    dictionary) was shown, 1 when nothing matched (a code neither knows still prints its Twilio link
    but returns 1), 2 for a usage error. ``--refresh`` downloads Twilio's dictionary.
    """
    args = [arg for arg in argv if arg.strip()]
    if not args:
        out.write(_USAGE)
        return 2
    if args[0] in ("-h", "--help"):
        out.write(_USAGE)
        out.write(error_dictionary.status() + "\n")
        return 0
    if args[0] == "--refresh":
        return _refresh_cli(args, out)
    codes = [parse_code(arg) for arg in args]
    query = " ".join(args)
    matches = search(query)
    single_prefix = len(codes) == 1 and codes[0] not in _catalogue() and bool(matches)
    if all(code is not None for code in codes) and not single_prefix:
        entries = [lookup(code) for code in codes]
        out.write("\n\n".join(format_entry(e) for e in entries if e is not None) + "\n")
        explained = [
            e is not None and (e.known or error_dictionary.entry_for(e.code) is not None) for e in entries
        ]
        return 0 if all(explained) else 1
    if not matches:
        out.write(f'No error code matches "{query}".\n')
        return 1
    if len(matches) == 1:
        out.write(format_entry(matches[0]) + "\n")
        return 0
    for entry in matches:
        out.write(f"{entry.code}  {entry.title}\n")
    out.write(f"{len(matches)} matches. Run 'callback-monitor errors CODE' for details.\n")
    return 0


def refresh_from_twilio_json(path: Path | str) -> dict[int, str]:
    """Parse Twilio's published ``twilio-error-codes.json``; return code -> Twilio's title.

    The format is a JSON array of objects with at least ``code`` and ``message``. Items without a
    numeric code are skipped rather than failing the whole refresh, since the file is third-party.
    Used to spot codes Twilio defines that our catalogue lacks (see ``missing_codes``).
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise ValueError("Twilio's error dictionary must be a JSON array of objects")
    titles: dict[int, str] = {}
    for item in data:
        if not isinstance(item, dict):
            continue
        code = parse_code(item.get("code"))
        if code is None:
            continue
        titles[code] = str(item.get("message") or "").strip()
    return titles


def missing_codes(twilio_titles: Mapping[int, str], within: range | None = None) -> list[int]:
    """Codes Twilio defines (optionally only those in ``within``) that the catalogue lacks."""
    known = _catalogue()
    return sorted(code for code in twilio_titles if code not in known and (within is None or code in within))
