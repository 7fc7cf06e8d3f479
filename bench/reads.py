"""The reads the GUI's budgets depend on, for each store given, side by side: a SQLite file and a team
database (PostgreSQL) holding the same rows.

Each figure is the median (and the worst) of ``--repeat`` runs of the Reader method the desktop calls, on
one Reader per store, as the GUI thread's and its lanes' Readers do. Budgets (issue #13): first rows
≤ 2 s, a filter's first page ≤ 200 ms, a scroll page ≤ 50 ms; counts may arrive later (off the GUI
thread), the statistics' budget is 300 ms.

    python bench/make_db.py --messages 1000000 --events 3000000 --out /tmp/big.db      # once
    python bench/reads.py --store /tmp/big.db --load-from /tmp/big.db --store postgresql://u@host/db
    python bench/reads.py --store /tmp/big.db --store postgresql://u@host/db           # afterwards

``--load-from DB`` copies DB into the (empty) team databases given before running (bench/pg_load.py: COPY,
the indexes built after; minutes for a million messages). The password comes from ``PGPASSWORD`` or
~/.pgpass, as for the app. ``--explain`` prints PostgreSQL's plans of the text filter's page and count.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import _common

_common.use_repo_root()

from bench.pg_load import copy_sqlite  # noqa: E402
from receiver.message_filter import MessageFilter, SortSpec  # noqa: E402
from receiver.request_filter import RequestFilter  # noqa: E402
from receiver.stats_queries import RANGES  # noqa: E402
from receiver.store import Reader, open_reader  # noqa: E402
from receiver.store.paging import PagePlan, first_page  # noqa: E402
from receiver.store.url import PostgresTarget, SqliteTarget, parse  # noqa: E402

PAGE = 100  # rows the table asks for at a time (desktop/models: a page)


def timed(read: Callable[[Reader], Any], reader: Reader, repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        read(reader)
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), max(runs)


Read = Callable[[Reader], Any]


def page(flt: MessageFilter, sort: SortSpec, now: datetime, plan: PagePlan, index: bool = False) -> Read:
    return lambda r: r.messages_page(flt, sort, now, plan, text_index=index)


def count(flt: MessageFilter, now: datetime, index: bool = False) -> Read:
    return lambda r: r.messages_count(flt, now, text_index=index)


def request_reads(flt: RequestFilter, top: int) -> tuple[Read, Read]:
    return (lambda r: r.requests_page(flt, top, first_page(PAGE))), (lambda r: r.requests_count(flt, 0, top))


def stats(key: str, now: datetime) -> Read:
    return lambda r: r.delivery_stats(key, now)


def reader_sid(reader: Reader, now: datetime) -> str:
    """A SID from the middle of the list (a piece of it matches one message: the rarest text)."""
    total = reader.messages_count(MessageFilter(), now)
    return str(
        reader.messages_page(MessageFilter(), SortSpec(), now, PagePlan(None, False, total // 3, 1)).rows[0][
            "sid"
        ]
    )


def cases(reader: Reader, with_stats: bool = True) -> list[tuple[str, Read]]:
    """(name, read) for every read measured, with arguments taken from the data (the same on each store:
    the first store's reader chooses them)."""
    newest = reader.messages_page(MessageFilter(), SortSpec(), datetime.now(UTC), first_page(1)).rows[0]
    now = datetime.fromisoformat(str(newest["first_seen"]))
    index = reader.messages_text_index()
    filters = {
        "status failed/undelivered": MessageFilter(statuses=("failed", "undelivered")),
        "channel whatsapp": MessageFilter(channel="whatsapp"),
        "text 'Thanks' (3+ chars)": MessageFilter(text="Thanks"),
        "text, one match (part of a SID)": MessageFilter(text=reader_sid(reader, now)[5:15]),
        "error code 30003": MessageFilter(error_code=30003),
        "since (the last day)": MessageFilter(since=(now - timedelta(days=1)).isoformat()),
    }
    every, sort = MessageFilter(), SortSpec()
    out = [
        ("messages: first page", page(every, sort, now, first_page(PAGE))),
        ("messages: count", count(every, now)),
    ]
    for column in ("status", "from", "price"):  # no index serves these sorts, in either store
        out.append(
            (f"messages: first page by {column}", page(every, SortSpec(column), now, first_page(PAGE)))
        )
    for name, flt in filters.items():
        out.append((f"filter {name}: first page", page(flt, sort, now, first_page(PAGE), index)))
        out.append((f"filter {name}: count", count(flt, now, index)))
    total = reader.messages_count(every, now)
    deep = reader.messages_page(every, sort, now, PagePlan(None, False, total // 2, PAGE))
    sid = str(deep.rows[0]["sid"])
    down, up = PagePlan(deep.last_key, False, 0, PAGE), PagePlan(deep.first_key, True, 0, PAGE)
    half_way = PagePlan(None, False, total // 2, PAGE)
    out += [
        ("scroll: page at depth (keyset, down)", page(every, sort, now, down)),
        ("scroll: page at depth (keyset, up)", page(every, sort, now, up)),
        ("scroll: by status, OFFSET half-way", page(every, SortSpec("status"), now, half_way)),
        ("position of a SID at depth", lambda r: r.messages_position(sid, every, sort, now)),
    ]
    top = reader.requests_top()
    for name, rflt in (("", RequestFilter()), (" 'signature'", RequestFilter(text="signature"))):
        first, counted = request_reads(rflt, top)
        out += [(f"requests{name}: first page", first), (f"requests{name}: count", counted)]
    out += [(f"statistics '{key}'", stats(key, now)) for key in RANGES if with_stats]
    return out


def explain(url: str) -> None:
    """PostgreSQL's plans for the text filter (is the pg_trgm index used?)."""
    from receiver.store import message_sql
    from receiver.store.dialect import POSTGRES
    from receiver.store.pg.reader import PgReader

    reader = open_reader(url)
    assert isinstance(reader, PgReader)
    now = datetime.now(UTC)
    for text in ("Thanks", reader_sid(reader, now)[5:15]):
        sql, args = message_sql.page_sql(MessageFilter(text=text), SortSpec(), dialect=POSTGRES)
        for query in (
            f"{sql} LIMIT 100",
            message_sql.where_clause(MessageFilter(text=text), dialect=POSTGRES)[0],
        ):
            if query.startswith("WHERE"):
                query = f"SELECT COUNT(*) FROM messages {query}"
            rows = reader.conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF) {query}", args).fetchall()
            print(f"\n-- {text!r}: {query[:90]}…")
            print("\n".join(str(r[0]) for r in rows))
    reader.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--store", action="append", required=True, help="a SQLite file or a postgresql:// URL"
    )
    parser.add_argument("--load-from", help="copy this SQLite file into the postgresql:// stores first")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--no-stats", action="store_true", help="leave the statistics out (slow live)")
    args = parser.parse_args()
    for store in args.store:
        target = parse(store)
        if args.load_from and isinstance(target, PostgresTarget):
            from receiver.store.pg.connection import connect

            started = time.perf_counter()
            with connect(target, role="bench") as conn:
                counts = copy_sqlite(args.load_from, conn, rebuild_indexes=True)
            print(f"loaded {store}: {counts} in {time.perf_counter() - started:.0f} s")
        if args.explain and isinstance(target, PostgresTarget):
            explain(store)
    names = [("sqlite" if isinstance(parse(s), SqliteTarget) else "postgresql") for s in args.store]
    print(f"\n{'read':<48}" + "".join(f"{n:>22}" for n in names) + "   (median / worst ms)")
    cold = []
    for store in args.store:  # what a start costs: a new Reader, the first page of the table
        started = time.perf_counter()
        fresh = open_reader(store)
        fresh.messages_page(MessageFilter(), SortSpec(), datetime.now(UTC), first_page(PAGE))
        cold.append(f"{(time.perf_counter() - started) * 1000:10.1f} {'':>10}")
        fresh.close()
    print(f"{'open + first page (once, cold)':<48}" + "".join(f"{c:>22}" for c in cold))
    readers = [open_reader(s) for s in args.store]
    for name, read in cases(readers[0], with_stats=not args.no_stats):
        cells = []
        for reader in readers:
            read(reader)  # warm: the first run pays for cold caches, not what the GUI sees afterwards
            median, worst = timed(read, reader, args.repeat)
            cells.append(f"{median:10.1f} / {worst:8.1f}")
        print(f"{name:<48}" + "".join(f"{c:>22}" for c in cells))
    for reader in readers:
        reader.close()


if __name__ == "__main__":
    main()
