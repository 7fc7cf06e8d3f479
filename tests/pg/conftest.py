"""A real PostgreSQL for the team-mode tests: one cluster per test session, one fresh database per test.

The password reaches libpq as an operator's would, through ``PGPASSWORD`` (the URLs carry none)."""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Iterator

import pytest

from receiver.store.url import PostgresTarget, parse
from tests.pg.cluster import PASSWORD, Cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session", autouse=True)
def _pg_password() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PGPASSWORD", PASSWORD)
        yield


def fresh_database(cluster: Cluster) -> str:
    name = "t_" + pysecrets.token_hex(6)
    cluster.admin(f"CREATE DATABASE {name}")
    return name


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> Iterator[str]:
    """The URL of an empty database (dropped after the test, whoever is still connected)."""
    name = fresh_database(pg_cluster)
    yield pg_cluster.url(name)
    pg_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def pg_target(pg_url: str) -> PostgresTarget:
    target = parse(pg_url)
    assert isinstance(target, PostgresTarget)
    return target
