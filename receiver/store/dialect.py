"""What differs between the SQL the Readers send to SQLite and to PostgreSQL, written once.

The read queries (the *_reads.py mixins, message_sql.py, stats) are written once, in qmark style (``?``)
with the standard SQL both engines share (COALESCE, row-value comparisons, CAST, ``LIKE … ESCAPE``). Where
the two differ, the query asks its Reader's ``dialect`` for the piece:

- placeholders: psycopg wants ``%s`` (and a literal ``%`` doubled): ``dialect.sql(text)`` converts;
- case-insensitive substring search: SQLite's ``LIKE`` (ASCII case folding) vs PostgreSQL's ``ILIKE``,
  which pg/schema.py's ``pg_trgm`` GIN index answers (SQLite's is the FTS5 table ``messages_fts``), or
  plain ``LIKE`` for text with no case to fold (``like_for``);
- the status sort key (rank, zero-padded, then time): ``printf`` vs ``lpad``;
- a text price as a number: SQLite's ``REAL`` is a double, PostgreSQL's is a 4-byte float;
- a read snapshot: SQLite's ``BEGIN`` in WAL mode is one, PostgreSQL needs ``REPEATABLE READ`` for the
  statements of a transaction to see the same rows;
- SQLite's unary ``+`` that keeps its planner off an index (PostgreSQL has no ``+`` for text);
- the seconds between two stored ISO times: ``julianday`` vs ``timestamptz`` arithmetic;
- a sample of the delivered messages for the delivery times (stats_reads): every k-th rowid in SQLite,
  one in k by a hash of the SID in PostgreSQL, which has no rowid.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..stats_queries import DEST_PREFIX_SQL, MICROS_SQL


@dataclass(frozen=True)
class Dialect:
    name: str
    like: str  # the case-insensitive LIKE operator
    status_key: str  # the messages' status sort key: rank zero-padded to 3 digits, then first_seen
    real: str  # the type a text price is CAST to (a double)
    instr: str  # position of a substring: f(haystack, needle), 1-based, 0 when absent
    begin_snapshot: str  # starts a read transaction whose statements all see one snapshot
    text_index: bool  # whether free text is answered by a separate index table (SQLite's FTS5)
    pyformat: bool  # placeholders are psycopg's %s (else qmark)
    has_rowid: bool  # SQLite's implicit row number (in arrival order), which the delivery-time sample uses
    not_indexed: str  # "{}" made an expression no index serves (SQLite's planner hint), or left as is
    seconds_between: str  # "{a}", "{b}": ISO times -> seconds from a to b, rounded to the stored ms

    @property
    def dest_prefix(self) -> str:
        """A message's destination prefix (receiver/stats_queries.py: its country)."""
        return DEST_PREFIX_SQL.format(instr=self.instr)

    @property
    def micros(self) -> str:
        """The spend of a GROUP BY's messages in micro-units (receiver/stats_queries.py)."""
        return MICROS_SQL.format(real=self.real)

    def like_for(self, text: str) -> str:
        """The operator for "a column contains ``text``". PostgreSQL's ILIKE folds the case of every row it
        looks at, twice LIKE's cost when a dense match (a phone number's prefix) is counted by a scan; text
        with no case to fold (digits, ``+``, punctuation: what operators search for most) matches the
        same rows with plain LIKE, which the trigram index answers too."""
        if self.like != "LIKE" and text.lower() == text == text.upper():
            return "LIKE"
        return self.like

    def plain(self, expression: str) -> str:
        return self.not_indexed.format(expression)

    def sql(self, text: str) -> str:
        """``text`` (written with ``?`` placeholders) in this driver's parameter style.

        Only placeholders outside quoted literals and identifiers are converted; for psycopg every ``%`` is
        doubled (it would otherwise start a placeholder), also inside literals."""
        if not self.pyformat:
            return text
        out: list[str] = []
        quote = ""
        for ch in text:
            if quote:
                if ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "?":
                out.append("%s")
                continue
            out.append("%%" if ch == "%" else ch)
        return "".join(out)


SQLITE = Dialect(
    name="sqlite",
    like="LIKE",
    status_key="printf('%03d', status_rank) || first_seen",
    real="REAL",
    instr="instr",
    begin_snapshot="BEGIN",
    text_index=True,
    pyformat=False,
    has_rowid=True,
    not_indexed="+{}",
    # julianday's doubles blur the milliseconds (5 s comes out 5.000013 s): round to the stored ms
    seconds_between="ROUND((julianday({b}) - julianday({a})) * 86400000.0) / 1000.0",
)
POSTGRES = Dialect(
    name="postgresql",
    like="ILIKE",
    status_key="lpad(status_rank::text, 3, '0') || first_seen",
    real="double precision",
    instr="strpos",
    begin_snapshot="BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    text_index=False,
    pyformat=True,
    has_rowid=False,
    not_indexed="{}",
    seconds_between=(
        "ROUND(EXTRACT(EPOCH FROM CAST({b} AS timestamptz) - CAST({a} AS timestamptz)) * 1000) / 1000.0"
    ),
)
