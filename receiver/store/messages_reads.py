"""The messages table's pages, filters and counts."""

from __future__ import annotations

from datetime import datetime

from ..message_filter import MessageFilter, SortSpec
from . import message_sql as sql
from .base import ReadsBase, reading
from .paging import Page, PagePlan


class MessagesReads(ReadsBase):
    def messages_text_index(self) -> bool:
        """Whether free text can be answered from a text index (cost proportional to the matches)."""
        with reading():
            return sql.has_text_index(self.conn, self.dialect)

    def messages_text_matches(self, text: str, limit: int | None = None) -> int:
        """How many messages contain ``text``, from the text index (at most ``limit``: "more than N?")."""
        with reading():
            return sql.text_match_count(self.conn, text, limit, self.dialect)

    def messages_count(self, flt: MessageFilter, now: datetime, *, text_index: bool = False) -> int:
        with reading():
            return sql.count(self.conn, flt, now, text_index=text_index, dialect=self.dialect)

    def messages_page(
        self, flt: MessageFilter, sort: SortSpec, now: datetime, plan: PagePlan, *, text_index: bool = False
    ) -> Page:
        """One page of messages (dicts of the message's columns) in list order, keyed by (sort key, sid)."""
        after = tuple(plan.after) if plan.after is not None else None
        query, args = sql.page_sql(
            flt, sort, now, text_index=text_index, after=after, backwards=plan.backwards, dialect=self.dialect
        )
        with reading():
            cur = self.conn.execute(f"{query} LIMIT ? OFFSET ?", [*args, plan.limit, plan.skip])
            names = [d[0] for d in cur.description]
            rows = [dict(zip(names, tuple(r), strict=True)) for r in cur.fetchall()]
        if plan.backwards:
            rows.reverse()
        if not rows:
            return Page()
        keys = [(r.pop(sql.SORT_KEY), str(r["sid"])) for r in rows]
        return Page(rows, keys[0], keys[-1])

    def messages_position(
        self, sid: str, flt: MessageFilter, sort: SortSpec, now: datetime, *, text_index: bool = False
    ) -> int | None:
        """The 0-based row of ``sid`` in the filtered, sorted list; None when the filter leaves it out."""
        with reading():
            return sql.position_of(
                self.conn, sid, flt, sort, now, text_index=text_index, dialect=self.dialect
            )
