"""What the operator asks of the messages list: a filter and a sort, as plain values.

No SQL here: each store backend turns a ``MessageFilter`` into its own query (SQLite:
``receiver/store/message_sql.py``), so the table, the CSV export and the statistics drill-downs mean the
same rows whatever stores them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from receiver import statuses

FAILED_STATUSES = tuple(sorted(statuses.FAILED))  # the "failed or undelivered" preset, in a stable order

# The columns the list can be sorted by, in table order (the desktop adds headers and tooltips).
SORT_COLUMNS = (
    "time", "status", "error", "direction", "channel", "from", "profile", "body", "media", "to",
    "segments", "price", "service", "sid",
)  # fmt: skip


@dataclass(frozen=True)
class MessageFilter:
    """What the operator filters on; empty/None means "any".

    ``since_seconds`` is relative ("last hour") and is turned into a timestamp each time the query runs,
    so a refresh moves the window; ``since``/``until`` are absolute UTC ISO strings.
    """

    statuses: tuple[str, ...] = ()
    channel: str | None = None
    direction: str | None = None
    error_code: int | None = None
    since_seconds: int | None = None
    since: str | None = None
    until: str | None = None
    text: str = ""
    hide_simulated: bool = False  # leave out what the simulator sent (messages.simulated, m008)
    # drill-downs from the statistics ("" = none recorded); kept by the filter bar until "Clear filters"
    from_addr: str | None = None
    service: str | None = None
    to_prefixes: tuple[str, ...] = ()  # destination prefixes of one country (receiver.stats_queries)
    scope: str = ""  # what those three mean, for the operator ("to United States (US)")

    def with_(self, **changes: Any) -> MessageFilter:
        return replace(self, **changes)

    @property
    def is_empty(self) -> bool:
        return self == MessageFilter()


@dataclass(frozen=True)
class SortSpec:
    column: str = "time"  # one of SORT_COLUMNS
    descending: bool = True


_PHONE_LIKE = re.compile(r"\+?[\d\s().\-/]+")


def normalise_search(text: str) -> str:
    """A phone number typed the way people write them ("(312) 555-0178", "+1 312.555.0178") becomes the
    digits Twilio stores ("3125550178" / "+13125550178"), which are a substring of the E.164 number. No
    country is assumed: "(312) 555-0178" finds +13125550178 because the digits are contained in it."""
    text = text.strip()
    digits = re.sub(r"\D", "", text)
    enough = len(digits) >= (8 if text.startswith("+") else 10)  # not a date (8 digits) or a short code
    if enough and len(digits) <= 15 and _PHONE_LIKE.fullmatch(text) and digits != text.lstrip("+"):
        return ("+" if text.startswith("+") else "") + digits
    return text
