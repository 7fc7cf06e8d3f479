"""Is the store still writing durably into the operator's database? The checks behind "never a 2xx for a
write that is not durable".

- **One writer per database file** (``WriterLock``): an exclusive ``flock`` on the database file itself, so
  every path that reaches it (symlink, hard link, relative path) meets the same lock; a name-keyed lock
  file let a second instance in through a hard link and corrupt the database.
- **Same file, room to write** (``StoreHealth``): after every group-commit batch, before its callers are
  answered, the database path and its WAL must still be the files the writer has open (a deleted folder
  or a restored backup leaves the writer writing into a file nobody will read again); before a batch,
  free disk space must stay above a threshold, so the receiver refuses with 503 before SQLite fails. Two
  ``stat`` calls per batch and one ``statvfs`` every ``DISK_CHECK_EVERY`` seconds: at most a few
  microseconds per batch, whatever the request rate.
- **Damage at start** (``check_integrity``): ``PRAGMA quick_check`` reads every page: 22 s with the file
  in the page cache and 379 s from disk on bench/make_db.py's million-message database (2.7 GB, a
  shared 2-core VM), too slow for every start, so it runs only when the file may have been damaged
  since this program last had it. A stamp next to it (``<db>-clean``) says how it was left: "clean"
  (inode, size, mtime, no WAL) at a clean close; "open" (inode, boot id) while in use. A start skips the
  check when the file is as a clean close left it, or when the process that had it open died during
  this same boot (a process crash cannot damage a WAL database: SQLite rolls its WAL forward or back).
  It checks after a reboot while open (power loss or OS crash with a disk that lies about fsync), when
  the file was changed or replaced since a clean close (a copy, a restore, another program), and when
  there is no stamp (first start of this version, a file from elsewhere). What goes unchecked: silent
  media corruption, and a file overwritten in place after a process crash.

Qt-free; errors carry a message written for the operator (the CLI prints it, the GUI shows it).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("callback_monitor.store")

DEFAULT_MIN_FREE_MB = 256  # a checkpoint may need room for the whole WAL, and the log grows too
DISK_CHECK_EVERY = 0.25  # seconds between free-space probes
WRITE_FAILURE_SHOWN = 60.0  # seconds a failed commit keeps /healthz at 503
CLEAN_SUFFIX = "-clean"
ANNOUNCE_CHECK_ABOVE = 64 * 2**20  # bytes; smaller files are checked in well under a second
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26
FreeSpace = Callable[[Path], int]


class StoreError(RuntimeError):
    """A store problem; ``str(exc)`` is the message for the operator."""


class StoreLocked(StoreError):
    """Another process (app or ``serve``) is already writing to this database file."""


class StoreUnavailable(StoreError):
    """Writes are refused for now (answered 503): the file is gone or replaced, the disk is full…"""


class StoreReadError(StoreError):
    """A read failed: the file is damaged, not a database, or gone (exports say so instead of a traceback)."""


class StoreOpenError(StoreError):
    """The database cannot be opened (permission, not a file, SQLite too old …)."""


class StoreDamaged(StoreError):
    """The database file is damaged; nothing was changed. ``keep_aside`` then a new Store starts afresh."""

    def __init__(self, path: Path, detail: str, remedy: str = "") -> None:
        self.path = path
        self.detail = detail
        super().__init__(
            f"The database {path} is damaged ({detail}). Nothing was changed. "
            + (
                remedy
                or "It can be kept aside (renamed with a timestamp: its data may still be recovered with "
                "`sqlite3 FILE .recover`) and a new empty database started."
            )
        )


def free_bytes(path: Path) -> int:
    """Free space a non-root process may use on the file system holding ``path``."""
    return shutil.disk_usage(path).free


def wal_path(path: Path) -> Path:
    """Where SQLite keeps the WAL: next to the real file (its unix VFS resolves symlinks)."""
    real = Path(os.path.realpath(path))
    return real.with_name(real.name + "-wal")


# ------------------------------------------------------------------------------- one writer per file
_held: set[tuple[int, int]] = set()  # (st_dev, st_ino) of databases this process writes
_held_lock = threading.Lock()
# Descriptors of a refused attempt are never closed: closing any descriptor of a file drops every POSIX
# (fcntl) lock this process holds on it, and SQLite's own locks are POSIX locks. Refusals happen at start.
_kept_open: list[int] = []


class WriterLock:
    """An exclusive ``flock`` on the database file itself (created empty if missing: a valid database).

    ``flock`` and SQLite's ``fcntl`` locks do not interact on Linux, macOS and the BSDs (on Linux NFS
    ``flock`` is emulated with ``fcntl`` locks: SQLite in WAL mode is not for network file systems
    anyway). A second writer in this process is refused by the in-process registry before any descriptor
    is opened, for the POSIX-lock reason above. Windows keeps the name-keyed lock of store/engine.py.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.key: tuple[int, int] | None = None
        self.fd: int | None = None
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows builds
            return
        import fcntl

        try:
            st = os.stat(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreOpenError(_os_reason(path, exc)) from None
        else:
            self._refuse_if_held(path, (st.st_dev, st.st_ino))
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            raise StoreOpenError(_os_reason(path, exc)) from None
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino)
        try:
            self._refuse_if_held(path, key)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except (OSError, StoreLocked):
            _kept_open.append(fd)
            raise _locked(path) from None
        with _held_lock:
            _held.add(key)
        self.fd, self.key = fd, key

    @staticmethod
    def _refuse_if_held(path: Path, key: tuple[int, int]) -> None:
        with _held_lock:
            if key in _held:
                raise _locked(path)

    def release(self) -> None:
        """Call after every connection of this process to the database is closed."""
        if self.fd is None:
            return
        import fcntl

        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        with _held_lock:
            _held.discard(self.key)
        self.fd = None


def _locked(path: Path) -> StoreError:
    return StoreLocked(
        f"{path} is already in use by another Callback Monitor (app or `serve`), maybe through another "
        "path (link). Close it first, or use another database with --db."
    )


def _os_reason(path: Path, exc: OSError) -> str:
    why = exc.strerror or str(exc)
    if isinstance(exc, PermissionError):
        hint = "check the permissions of the file and its folder, or choose another file with --db"
    elif isinstance(exc, IsADirectoryError):
        hint = "--db must name a file, not a folder"
    else:
        hint = "choose another file with --db"
    return f"Cannot open the database {path}: {why}. {hint[0].upper()}{hint[1:]}."


def open_error(path: Path, exc: BaseException) -> StoreError:
    """The operator's message for a failure while opening ``path`` (OS or SQLite error)."""
    if isinstance(exc, sqlite3.DatabaseError) and getattr(exc, "sqlite_errorcode", None) in (
        SQLITE_CORRUPT,
        SQLITE_NOTADB,
    ):
        return StoreDamaged(path, str(exc))
    if isinstance(exc, OSError):
        return StoreOpenError(_os_reason(path, exc))
    return StoreOpenError(
        f"Cannot open the database {path}: {exc}. Check that its folder is writable and has free space, "
        "or choose another file with --db."
    )


# ------------------------------------------------------------------------------- damage at start
def boot_id() -> str | None:
    """This boot of the machine (Linux); None where unknown, which counts as "maybe rebooted"."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _stamp_of(path: Path, state: str) -> dict[str, int | str | None] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if state == "open":  # the file changes while open: only which file, and in which boot
        return {"state": state, "dev": st.st_dev, "ino": st.st_ino, "boot": boot_id()}
    wal = wal_path(path)
    wal_size = wal.stat().st_size if wal.exists() else 0
    return {
        "state": state,
        "dev": st.st_dev,
        "ino": st.st_ino,
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "wal": wal_size,
    }


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + CLEAN_SUFFIX)


def _write_stamp(path: Path, state: str) -> None:
    stamp = _stamp_of(path, state)
    if stamp is None or stamp.get("wal"):
        return
    try:
        _stamp_path(path).write_text(json.dumps(stamp))
    except OSError:  # no stamp only means a full check next time
        log.debug("%s stamp not written", state, exc_info=True)


def write_clean_stamp(path: Path) -> None:
    """After a clean close (every connection closed): the file as it was left."""
    _write_stamp(path, "clean")


def needs_check(path: Path) -> bool:
    """False when the file is exactly as this program left it at a clean close, or when it was left open
    by a process that died during this same boot (a process crash cannot damage a WAL database: SQLite
    rolls the WAL forward or back); True otherwise."""
    stamp_file = _stamp_path(path)
    try:
        stamp = json.loads(stamp_file.read_text())
    except (OSError, ValueError):
        stamp = None
    if not isinstance(stamp, dict):
        check = True
    elif stamp.get("state") == "open":
        check = stamp.get("boot") is None or stamp != _stamp_of(path, "open")
    else:
        check = stamp != _stamp_of(path, "clean")
    return check


def mark_open(path: Path) -> None:
    """Once the file is known sound and in use: what the next start compares against if we die."""
    _write_stamp(path, "open")


def check_integrity(conn: sqlite3.Connection, path: Path) -> str | None:
    """``PRAGMA quick_check``: None when sound, else what SQLite found (first lines)."""
    size = path.stat().st_size if path.exists() else 0
    if size > ANNOUNCE_CHECK_ABOVE:  # seconds to minutes: say why the start is slow
        log.warning(
            "checking %s (%.1f GB) for damage: it was changed since it was last closed cleanly, or the "
            "machine went down while it was open; this reads the whole file",
            path,
            size / 1e9,
        )
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(20)").fetchall()]
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorcode", None) in (SQLITE_CORRUPT, SQLITE_NOTADB):
            return str(exc)
        raise
    if rows == ["ok"]:
        return None
    return "; ".join(rows[:3]) + (f" … ({len(rows)} problems)" if len(rows) > 3 else "")


def keep_aside(path: Path) -> Path:
    """Rename a damaged database (and its WAL and shared-memory files) with a timestamp; returns the new
    name. Under the writer lock, so a running instance's file is never moved."""
    lock = WriterLock(path)
    try:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        target = path.with_name(f"{path.name}.damaged-{stamp}")
        for suffix in ("-wal", "-shm"):
            side = path.with_name(path.name + suffix)
            if side.exists():
                side.rename(target.with_name(target.name + suffix))
        path.rename(target)
        _stamp_path(path).unlink(missing_ok=True)
    except OSError as exc:
        raise StoreOpenError(_os_reason(path, exc)) from None
    finally:
        lock.release()
    return target


# ------------------------------------------------------------------------------- while running
class StoreHealth:
    """What stands between a commit and its 2xx. ``before_write``/``after_commit`` raise
    ``StoreUnavailable``; ``problems()`` says what is wrong now (``/healthz``, the GUI)."""

    def __init__(
        self,
        path: Path,
        min_free_bytes: int = DEFAULT_MIN_FREE_MB * 1024 * 1024,
        free_space: FreeSpace = free_bytes,
    ) -> None:
        self.path = path
        self.min_free_bytes = min_free_bytes
        self.free_space = free_space
        self._path = str(path)  # os.stat on a str: a Path costs ~50% more per call
        self._file = _identity(self._path)
        self._wal_path = str(wal_path(path))
        self._wal: tuple[int, int] | None = None
        self._file_problem: str | None = None
        self._write_error: str | None = None
        self._write_failed_at = -1e9
        self._disk_problem: str | None = None
        self.free: int | None = None
        self._disk_checked = -1e9
        self._lock = threading.Lock()

    def wal_opened(self) -> None:
        """Remember the WAL the writer has open (call once it exists: after the first transaction)."""
        self._wal = _identity(self._wal_path)

    # called by the committing thread, one batch at a time
    def before_write(self) -> None:
        if self._file_problem is not None:  # maybe the file is back (moved back into place)
            self._check_files()
        self._check_disk()
        problem = self._file_problem or self._disk_problem
        if problem is not None:
            raise StoreUnavailable(problem)

    def after_commit(self) -> None:
        self._check_files()
        if self._file_problem is not None:
            raise StoreUnavailable(self._file_problem)

    def write_failed(self, exc: BaseException) -> None:
        if isinstance(exc, sqlite3.Error):
            now, error = time.monotonic(), str(exc)
            if error != self._write_error or now - self._write_failed_at > WRITE_FAILURE_SHOWN:
                log.error("store: the database cannot be written: %s: callbacks are refused (503)", error)
            self._write_error, self._write_failed_at = error, now

    def problems(self) -> list[str]:
        self._check_disk()
        problems = [p for p in (self._file_problem, self._disk_problem) if p]
        ago = time.monotonic() - self._write_failed_at
        if ago < WRITE_FAILURE_SHOWN:  # a later small write may pass while callbacks still fail
            problems.append(f"the database cannot be written ({self._write_error}, {ago:.0f} s ago)")
        return problems

    # ---------------------------------------------------------------- checks
    def _check_files(self) -> None:
        problem = None
        now = _identity(self._path)
        if now is None:
            problem = f"the database file {self.path} (or its folder) was deleted"
        elif now != self._file:
            problem = f"the database file {self.path} was replaced by another file"
        elif self._wal is not None and _identity(self._wal_path) != self._wal:
            problem = f"the database's write-ahead log {self._wal_path} was deleted or replaced"
        if problem is not None:
            problem += ": callbacks are refused (503) because they would not reach it; restart the receiver"
        if problem != self._file_problem:
            self._set("_file_problem", problem)

    def _check_disk(self) -> None:
        now = time.monotonic()
        if now - self._disk_checked < DISK_CHECK_EVERY:
            return
        self._disk_checked = now
        try:
            self.free = self.free_space(self.path.parent)
        except OSError:  # the folder is gone: the file check says so
            return
        problem = None
        if self.free < self.min_free_bytes:
            problem = (
                f"disk almost full: {self.free / 2**20:.0f} MB free on the disk of {self.path.parent}, "
                f"the receiver keeps {self.min_free_bytes / 2**20:.0f} MB free (--min-free-mb): "
                "callbacks are refused (503) until space is freed"
            )
        if problem != self._disk_problem:
            self._set("_disk_problem", problem)

    def _set(self, name: str, problem: str | None) -> None:
        with self._lock:
            previous = getattr(self, name)
            setattr(self, name, problem)
        if problem is not None:
            log.error("store: %s", problem)
        elif previous is not None:
            log.warning("store: writing again (resolved: %s)", previous)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
