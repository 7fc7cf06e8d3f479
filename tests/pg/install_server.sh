#!/bin/sh
# The server that tests/pg starts its own clusters with: Debian's PostgreSQL package, installed once when
# missing (docs/TEAM.md says why this and not a PyPI wheel). `make test` runs this before pytest.
set -eu
if [ -n "${CALLBACK_MONITOR_PG_BIN:-}" ] || command -v initdb >/dev/null 2>&1 \
    || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "error: the PostgreSQL server (initdb, pg_ctl) is not installed; tests/pg need it." >&2
    echo "  Debian/Ubuntu: sudo apt-get install postgresql; macOS: brew install postgresql;" >&2
    echo "  or set CALLBACK_MONITOR_PG_BIN to the folder holding initdb and pg_ctl." >&2
    exit 1
fi
echo "==> installing Debian's PostgreSQL server for tests/pg (apt-get install postgresql)"
# no system-wide cluster on port 5432: the tests start their own, in a temporary folder
mkdir -p /etc/postgresql-common
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confold postgresql
