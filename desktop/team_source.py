"""What an attached window shows: a team database, read through a PgReader and kept live by LISTEN/NOTIFY.

It offers the views what ``ReceiverController`` offers them (``read()``, ``dataChanged``, ``failed`` …),
so the tabs have one code path; there is no receiver here (the team's receivers write the database), so
``running`` stays False and nothing is ever replayed or purged from this desktop. The listener
(receiver/store/pg/listen.py) runs on its own thread; its reports come here as queued signals, and each
batch a receiver commits becomes the same coalesced refresh as a callback in the embedded mode.
"""

from __future__ import annotations

from contextlib import closing

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from desktop.refresh_coalescer import RefreshCoalescer
from desktop.team_menu import VIEWER_NOTE
from desktop.workers import TaskRunner
from receiver.store import Reader, StoreError, open_reader
from receiver.store.pg.changes import Change
from receiver.store.pg.listen import Back, Listener, Live, Lost, State
from receiver.store.pg.writers import WriterInfo
from receiver.store.url import PostgresTarget

WRITERS_MS = 15_000  # how often "written by …" is re-read (a receiver's heartbeat is 10 s)


def team_name(target: PostgresTarget) -> str:
    """user@host/db: who reads what, without the options a URL may carry."""
    port = "" if target.port == 5432 else f":{target.port}"
    return f"{target.user}@{target.host}{port}/{target.dbname}"


def writers_text(writers: list[WriterInfo]) -> tuple[str, str]:
    """("written by 2 receivers", "srv-a 0.0.0.0:8080\nsrv-b 10.0.0.7:8080"): short enough for the status
    bar at 1024 px next to a lost connection, and the receivers one a line; or that none writes it now."""
    active = [w for w in writers if w.stopped_at is None]
    if not active:
        return "no receiver is writing it now", "No receiver has written to it in the last minute."
    names = [f"{w.host} {w.listen}" if w.listen else w.host for w in active]
    return f"written by {len(active)} receiver{'s' if len(active) != 1 else ''}", "\n".join(names)


def connection_text(state: State) -> str:
    if isinstance(state, Lost):
        return f"connection lost — reconnecting in {state.retry_in:.0f} s (attempt {state.attempt})"
    return "reconnected" if isinstance(state, Back) else "live"


class TeamSource(QObject):
    """A team database for the window's views.

    Signals:
        started(str) / stopped(): never emitted (no receiver here); declared for the views that listen.
        dataChanged(): coalesced "the database changed, refresh what you show" (a batch committed, or
            the connection came back and anything may have changed).
        replayed(int, str) / purged(dict): never emitted (a viewer neither replays nor purges).
        configChanged(): never emitted.
        failed(str): something went wrong that the operator should read.
        connectionChanged(str): "live", "connection lost — reconnecting in 4 s (attempt 3)", "reconnected".
        writersChanged(str, str): who writes the database: ("written by 2 receivers", one a line).
    """

    started = Signal(str)
    stopped = Signal()
    dataChanged = Signal()
    configChanged = Signal()
    replayed = Signal(int, str)
    purged = Signal(dict)
    failed = Signal(str)
    connectionChanged = Signal(str)
    writersChanged = Signal(str, str)
    _heard = Signal(object)  # a Change, from the listener's thread
    _state = Signal(object)  # a listen.State, from the listener's thread

    running = False  # no receiver: replay and the like are off
    local_url = ""
    replay_off = f"Replay sends a request to this computer's receiver: off here ({VIEWER_NOTE})."

    def __init__(self, target: PostgresTarget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.target = target
        self.name = team_name(target)
        self.connection = "connecting…"
        self.writers = ("who writes it: asking…", "")
        self._read: Reader | None = None
        self._listener: Listener | None = None
        self.tasks = TaskRunner(self)
        self._refresh = RefreshCoalescer(self)
        self._refresh.due.connect(self.dataChanged)
        self._heard.connect(self._on_change)
        self._state.connect(self._on_state)
        self._writers_timer = QTimer(self)
        self._writers_timer.setInterval(WRITERS_MS)
        self._writers_timer.timeout.connect(self.refresh_writers)

    def start(self) -> None:
        if self._listener is None:
            self._listener = Listener(self.target, self._heard.emit, self._state.emit).start()
            self._writers_timer.start()
            self.refresh_writers()

    def stop(self) -> None:
        """Stop listening (at once), wait for helper threads, close the GUI thread's reader."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        self._writers_timer.stop()
        self._refresh.stop()
        self.tasks.join()
        if self._read is not None:
            self._read.close()
            self._read = None

    @property
    def location(self) -> PostgresTarget:
        """What ``open_reader`` opens on a worker thread: the team database."""
        return self.target

    def read(self) -> Reader:
        """The GUI thread's Reader on the team database. Worker threads open their own."""
        if self._read is None:
            self._read = open_reader(self.target)
        return self._read

    def store_problems(self) -> list[str]:
        return []  # the receivers' business: this desktop stores nothing

    # ------------------------------------------------------------ live
    @Slot(object)
    def _on_change(self, _change: Change) -> None:
        self._refresh.poke()  # any batch may change what any view shows: each re-reads its window

    @Slot(object)
    def _on_state(self, state: State) -> None:
        self.connection = connection_text(state)
        self.connectionChanged.emit(self.connection)
        if isinstance(state, Back):  # batches committed while nobody listened were not heard
            self._refresh.poke()
            self.refresh_writers()
        elif isinstance(state, Live):
            self.refresh_writers()

    def refresh_writers(self) -> None:
        """Re-read who writes the database, off the GUI thread; ``writersChanged`` with the answer."""
        target = self.target

        def ask() -> tuple[str, str]:
            with closing(open_reader(target)) as reader:
                return writers_text(reader.writers())  # those seen lately

        def answered(texts: tuple[str, str]) -> None:
            self.writers = texts
            self.writersChanged.emit(*texts)

        def failed(exc: BaseException) -> None:
            answered(("who writes it: unknown", str(exc) if isinstance(exc, StoreError) else ""))

        self.tasks.run("team-writers", ask, on_done=answered, on_error=failed)
