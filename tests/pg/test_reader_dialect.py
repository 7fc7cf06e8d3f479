"""The read SQL is written once, with ``?`` placeholders; psycopg takes ``%s`` and reads any ``%`` as the
start of one (receiver/store/dialect.py converts)."""

from __future__ import annotations

from receiver.store import open_reader
from receiver.store.dialect import POSTGRES, SQLITE
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget


def test_placeholders_become_psycopgs_and_literals_stay_as_written() -> None:
    sql = "SELECT '?', \"a?\", 'it''s ?' FROM t WHERE x LIKE ? ESCAPE '\\' AND y = '%' AND z = ?"
    assert POSTGRES.sql(sql) == (
        "SELECT '?', \"a?\", 'it''s ?' FROM t WHERE x LIKE %s ESCAPE '\\' AND y = '%%' AND z = %s"
    )
    assert SQLITE.sql(sql) == sql


def test_a_literal_percent_and_a_parameter_in_one_statement(pg_target: PostgresTarget) -> None:
    PgStore(pg_target).close()
    reader = open_reader(pg_target)
    try:
        row = reader.conn.execute("SELECT '100%' || ?, '?'", ("x",)).fetchone()
        assert tuple(row) == ("100%x", "?")
    finally:
        reader.close()


def test_text_with_no_case_to_fold_is_searched_with_plain_like() -> None:
    # ILIKE folds every row's case: twice LIKE's cost when a phone number's prefix is counted by a scan
    for caseless in ("+1415", "55501", "50%", "+44 (0) 20", "短信"):
        assert POSTGRES.like_for(caseless) == "LIKE", caseless
    # any character with a case keeps ILIKE, symbols included (Ⓐ lower-cases to ⓐ)
    for cased in ("whatsapp:+1", "SM0a", "Ⓐ12", "ß"):
        assert POSTGRES.like_for(cased) == "ILIKE", cased
    assert SQLITE.like_for("whatsapp") == SQLITE.like_for("+1415") == "LIKE"
