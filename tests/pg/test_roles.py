"""The roles and GRANTs of docs/TEAM.md, run as written there: the owner migrates, the writer (no CREATE)
runs a receiver, the viewer reads and cannot write."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import psycopg.errors
import pytest

from receiver.app import ReceiverConfig, create_app
from receiver.store import StoreError
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget, parse
from tests.pg.cluster import PASSWORD, Cluster
from tests.receiver_helpers import PUBLIC, TOKEN, post, sid, status_params

TEAM_MD = Path(__file__).resolve().parents[2] / "docs" / "TEAM.md"


def sql_block(title: str) -> list[str]:
    """The statements of the ```sql block of docs/TEAM.md whose first line is ``-- title``."""
    for block in re.findall(r"```sql\n(.*?)```", TEAM_MD.read_text(), re.S):
        lines = block.strip().splitlines()
        if lines and lines[0] == f"-- {title}":
            return [s.strip() for s in "\n".join(lines[1:]).split(";") if s.strip()]
    raise AssertionError(f"no sql block '-- {title}' in docs/TEAM.md")


def target(cluster: Cluster, user: str) -> PostgresTarget:
    found = parse(cluster.url("callbacks", user=user))
    assert isinstance(found, PostgresTarget)
    return found


@pytest.fixture
def team_database(pg_cluster: Cluster) -> Iterator[Cluster]:
    for statement in sql_block("team database: cluster"):
        pg_cluster.admin(statement)
    for role in ("cm_owner", "cm_writer", "cm_viewer"):  # the doc sets them with \password
        pg_cluster.admin(f"ALTER ROLE {role} PASSWORD '{PASSWORD}'")
    try:
        with psycopg.connect(pg_cluster.url("callbacks", user="cm_owner"), autocommit=True) as owner:
            for statement in sql_block("team database: grants"):
                owner.execute(statement)  # type: ignore[arg-type,unused-ignore]
        yield pg_cluster
    finally:
        pg_cluster.admin("DROP DATABASE IF EXISTS callbacks WITH (FORCE)")
        for role in ("cm_owner", "cm_writer", "cm_viewer"):
            pg_cluster.admin(f"DROP ROLE IF EXISTS {role}")


def test_the_documented_roles_let_the_writer_receive_and_the_viewer_only_read(team_database: Cluster) -> None:
    with pytest.raises(StoreError, match="permission denied"):
        PgStore(target(team_database, "cm_writer"))  # no CREATE: it cannot migrate an empty database
    PgStore(target(team_database, "cm_owner")).close()  # the owner migrates

    writer = PgStore(target(team_database, "cm_writer"))
    try:
        config = ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)
        client = create_app(writer, config).test_client()  # type: ignore[arg-type,unused-ignore]
        message = sid()
        assert post(client, "/twilio/status", status_params(message, "delivered")).status_code == 200
        assert post(client, "/twilio/status", status_params(message, "sent")).status_code == 200
    finally:
        writer.close()

    with psycopg.connect(team_database.url("callbacks", user="cm_viewer")) as viewer:
        assert viewer.execute("SELECT sid, status FROM messages").fetchall() == [(message, "delivered")]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            viewer.execute("DELETE FROM messages")
        viewer.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            viewer.execute("CREATE TABLE intruder (x int)")
