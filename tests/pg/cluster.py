"""A throw-away PostgreSQL cluster for the tests: initdb in a temporary folder, pg_ctl on a free port.

The server refuses to run as root (CI runs as root), so there the folder belongs to the unprivileged
``postgres`` account that Debian's package creates, and initdb/pg_ctl run as it through ``runuser``.
Host connections need a password (scram-sha-256), as on a real server: the tests give it the way an
operator would (PGPASSWORD, a keyring entry), never in a URL.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "cm_admin"
PASSWORD = "test-only-password"  # a throw-away cluster on 127.0.0.1 that lives for one test session


def bin_dir() -> Path:
    """Where initdb and pg_ctl are: CALLBACK_MONITOR_PG_BIN, Debian's newest version, or the PATH."""
    given = os.environ.get("CALLBACK_MONITOR_PG_BIN")
    if given:
        return Path(given)
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if debian:
        return Path(debian[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError(
        "the PostgreSQL server is not installed (no initdb): `make test` installs it "
        "(tests/pg/install_server.sh), or set CALLBACK_MONITOR_PG_BIN"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """One PostgreSQL server: ``start()``, ``stop()``, ``url(dbname)``, ``destroy()``."""

    def __init__(self) -> None:
        self.bin = bin_dir()
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="cm-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0
        if self.as_root:
            account = pwd.getpwnam("postgres")
            os.chown(self.dir, account.pw_uid, account.pw_gid)
        pwfile = self.dir / "pw"
        pwfile.write_text(PASSWORD + "\n")
        if self.as_root:
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",  # the cluster's files are thrown away; commits still fsync (fsync stays on)
        )
        pwfile.unlink()

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self, fsync: bool = True) -> None:
        """Start on a free port (a new one at each start: a port taken meanwhile is retried).
        ``fsync=False`` only for a benchmark that separates the disk's flush time from the receiver's."""
        for attempt in range(5):
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=60 "
                f"-c shared_buffers=32MB -c fsync={'on' if fsync else 'off'} -c synchronous_commit=on"
            )
            try:
                self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data), "-l", str(self.log),
                          "-o", options)  # fmt: skip
                return
            except subprocess.CalledProcessError:
                if attempt == 4:
                    raise RuntimeError("PostgreSQL did not start:\n" + self.log.read_text()[-3000:]) from None

    def stop(self, mode: str = "fast") -> None:
        """``fast``: a clean shutdown; ``immediate``: as a crash (recovery replays the WAL at next start)."""
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-D", str(self.data), "-m", mode)

    def url(self, dbname: str = "postgres", user: str = SUPERUSER) -> str:
        """A URL without a password (the store refuses one: it would show in ``ps`` and shell history)."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str, dbname: str = "postgres") -> None:
        """Run ``sql`` as the superuser in autocommit (CREATE/DROP DATABASE)."""
        import psycopg

        with psycopg.connect(self.url(dbname), password=PASSWORD, autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type,unused-ignore]

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped (pg_ctl -w returns once the server has exited)
        shutil.rmtree(self.dir, ignore_errors=True)
