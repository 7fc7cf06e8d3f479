"""A desktop attached to a team database (issue 13, "Desktops attach"), on a real PostgreSQL: the dialog
typed and clicked as a person, its messages, rows that a team receiver writes showing up by themselves,
a connection lost and recovered (with the rows written meanwhile), the documented viewer role, the viewer's
switched-off features, and a prompt close."""

from __future__ import annotations

import csv
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import keyring
import psycopg
import pytest
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from desktop import app as desktop_app
from desktop.main_window import MainWindow
from desktop.receiver_controller import ReceiverController
from desktop.team_menu import TEAM_URL_KEY
from desktop.team_source import team_name
from desktop.window_host import WindowHost
from receiver.app import ReceiverConfig, create_app
from receiver.secrets import SecretStore
from receiver.store.pg import listen
from receiver.store.pg.store import PgStore
from receiver.store.url import PostgresTarget, parse
from tests.pg.cluster import PASSWORD, Cluster
from tests.pg.conftest import pg_cluster, pg_url  # noqa: F401  (fixtures)
from tests.pg.test_roles import team_database  # noqa: F401  (fixture)
from tests.receiver_helpers import PUBLIC, TOKEN, post, sid, status_params

LISTENER = f"callback-monitor {listen.ROLE}"
LISTEN = "0.0.0.0:8080"  # where the team's receiver says it listens
# the offscreen platform cannot raise or grab for a popup menu (the File menu is clicked open)
pytestmark = pytest.mark.qt_log_ignore(
    "This plugin does not support raise", "This plugin does not support grabbing the keyboard"
)


def target_of(url: str) -> PostgresTarget:
    target = parse(url)
    assert isinstance(target, PostgresTarget)
    return target


class TeamReceiver:
    """A receiver of the team (``serve --store``'s app on a PgStore), posting from its own thread."""

    def __init__(self, url: str) -> None:
        self.url = url
        # the receiver's own password, where an operator keeps it (the desktop's is typed in the dialog)
        SecretStore(keyring.get_keyring()).set(target_of(url).keyring_name, PASSWORD)
        self.store = PgStore(target_of(url), listen=LISTEN)  # creates the tables on an empty database
        config = ReceiverConfig.with_token(TOKEN, public_url=PUBLIC)
        self.client = create_app(self.store, config).test_client()

    def send(self, count: int, status: str = "delivered", **extra: str) -> list[str]:
        """``count`` signed status callbacks, from another thread; the store sends the batches' NOTIFY."""
        sids = [sid() for _ in range(count)]
        answers: list[int] = []

        def work() -> None:
            answers.extend(
                post(self.client, "/twilio/status", status_params(s, status, **extra)).status_code
                for s in sids
            )

        thread = threading.Thread(target=work)
        thread.start()
        thread.join(30)
        assert answers == [200] * count
        return sids

    def close(self) -> None:
        self.store.close()


@pytest.fixture
def team(pg_url: str) -> Iterator[TeamReceiver]:  # noqa: F811
    receiver = TeamReceiver(pg_url)
    yield receiver
    receiver.close()


@pytest.fixture
def host(qtbot: QtBot, tmp_path: Path, tmp_settings: QSettings) -> Iterator[WindowHost]:
    """The app's window host on a local database (tmp_path/local.db) and the test's settings."""

    def make_controller() -> ReceiverController:
        return ReceiverController(tmp_path / "local.db", secrets=SecretStore(keyring.get_keyring()))

    made = WindowHost(lambda: tmp_settings, make_controller)
    yield made
    if made.window is not None:
        made.window.close()


@pytest.fixture
def _pgpassword(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)  # as tests/pg's fixtures expect, while they set up
    return monkeypatch


@pytest.fixture
def roles(_pgpassword: pytest.MonkeyPatch, team_database: Cluster) -> Cluster:  # noqa: F811
    """docs/TEAM.md's roles and database; the desktop then finds no PGPASSWORD (its password is typed)."""
    _pgpassword.delenv("PGPASSWORD")
    return team_database


def rows(window: MainWindow) -> int:
    return window.messages.model.rowCount()


def choose_from_file_menu(qtbot: QtBot, window: MainWindow, action: QAction) -> None:
    """Click File in the menu bar, then ``action`` in the menu that opens."""
    bar, menu = window.menuBar(), window.file_menu
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(menu.menuAction()).center())
    qtbot.waitUntil(menu.isVisible)
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())


def connect_through_dialog(qtbot: QtBot, window: MainWindow, url: str, password: str) -> None:
    """File → Connect to a team database…, the URL and password typed, Connect clicked."""
    choose_from_file_menu(qtbot, window, window.team_actions.connect_action)
    dialog = window.team_actions.dialog
    assert dialog is not None
    qtbot.waitUntil(dialog.isVisible)
    dialog.url.clear()
    QTest.keyClicks(dialog.url, url)
    QTest.keyClicks(dialog.password, password)
    QTest.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)


def attached(qtbot: QtBot, host: WindowHost, url: str) -> MainWindow:
    """A window attached to ``url`` as the app opens one (the password in the keyring already)."""
    SecretStore(keyring.get_keyring()).set(target_of(url).keyring_name, PASSWORD)
    window = host.open(url)
    qtbot.waitUntil(lambda: window.status.connection.text() == "live")
    return window


def test_connecting_through_the_dialog_shows_the_team_rows(
    qtbot: QtBot, host: WindowHost, team: TeamReceiver, tmp_settings: QSettings
) -> None:
    team.send(3)
    local = host.open("")
    assert rows(local) == 0
    connect_through_dialog(qtbot, local, team.url, PASSWORD)
    qtbot.waitUntil(lambda: host.window is not local)
    window = host.window
    assert window is not None and window.team is not None
    qtbot.waitUntil(lambda: rows(window) == 3)
    target = target_of(team.url)
    store_text = window.status.store.text
    assert store_text().startswith(f"Team database cm_admin@127.0.0.1:{target.port}/{target.dbname} · ")
    qtbot.waitUntil(lambda: store_text().endswith(" · written by 1 receiver"))
    assert window.status.store.toolTip().endswith(f"written by 1 receiver:\n{socket.gethostname()} {LISTEN}")
    # the password in the keyring under the role's entry; the settings remember the URL only
    assert SecretStore(keyring.get_keyring()).get(target.keyring_name) == PASSWORD
    tmp_settings.sync()
    assert tmp_settings.value(TEAM_URL_KEY) == team.url
    assert PASSWORD not in Path(tmp_settings.fileName()).read_text()


def test_a_wrong_password_is_named_and_nothing_is_kept(
    qtbot: QtBot, host: WindowHost, team: TeamReceiver, tmp_settings: QSettings
) -> None:
    local = host.open("")
    target = target_of(team.url)
    connect_through_dialog(qtbot, local, team.url, "not-the-password")
    dialog = local.team_actions.dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: "refused the password" in dialog.message.text())
    assert 'user "cm_admin"' in dialog.message.text() and dialog.isVisible()
    assert host.window is local and local.team is None
    assert SecretStore(keyring.get_keyring()).get(target.keyring_name) == PASSWORD  # the good one stays
    assert tmp_settings.value(TEAM_URL_KEY) is None


@pytest.mark.parametrize(
    ("make_url", "expected"),
    [
        (lambda c, db: c.url(db).replace(f":{c.port}/", ":1/"), "Cannot reach the team database server"),
        (lambda c, db: c.url("no_such_db"), 'has no database "no_such_db"'),
        (lambda c, db: c.url(db), "is not a Callback Monitor database"),
        (lambda c, db: c.url(db).replace("cm_admin@", "cm_admin:secret@"), "carries a password"),
    ],
    ids=["unreachable", "no-database", "no-schema", "password-in-url"],
)
def test_each_refusal_says_what_is_wrong(
    qtbot: QtBot,
    host: WindowHost,
    pg_cluster: Cluster,  # noqa: F811
    pg_url: str,  # noqa: F811
    make_url: Callable[[Cluster, str], str],
    expected: str,
) -> None:
    local = host.open("")
    connect_through_dialog(qtbot, local, make_url(pg_cluster, target_of(pg_url).dbname), PASSWORD)
    dialog = local.team_actions.dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: expected in dialog.message.text(), timeout=15_000)
    assert host.window is local


def test_rows_a_team_receiver_writes_appear_without_any_action(
    qtbot: QtBot, host: WindowHost, team: TeamReceiver
) -> None:
    team.send(2)
    window = attached(qtbot, host, team.url)
    qtbot.waitUntil(lambda: rows(window) == 2)
    team.send(3)
    qtbot.waitUntil(lambda: rows(window) == 5)


def test_a_lost_connection_is_shown_recovered_and_what_was_written_meanwhile_shows(
    qtbot: QtBot, host: WindowHost, team: TeamReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listen, "FIRST_RETRY", 2.0)  # room to write while nobody listens
    window = attached(qtbot, host, team.url)
    team.send(1)
    qtbot.waitUntil(lambda: rows(window) == 1)
    with psycopg.connect(team.url, password=PASSWORD, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (LISTENER,)
        )
    label = window.status.connection
    qtbot.waitUntil(lambda: label.text() == "connection lost — reconnecting in 2 s (attempt 1)")
    team.send(2)  # its NOTIFY reaches nobody: only the refresh on return shows these rows
    qtbot.waitUntil(lambda: label.text() == "reconnected", timeout=10_000)
    qtbot.waitUntil(lambda: rows(window) == 3)


def test_after_every_connection_of_the_desktop_was_cut_the_rows_written_meanwhile_show(
    qtbot: QtBot, host: WindowHost, team: TeamReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failover or a server restart ends the window's reading connections as well as its listener."""
    monkeypatch.setattr(listen, "FIRST_RETRY", 2.0)
    window = attached(qtbot, host, team.url)
    team.send(1)
    qtbot.waitUntil(lambda: rows(window) == 1)
    with psycopg.connect(team.url, password=PASSWORD, autocommit=True) as conn:
        cut = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name IN (%s, %s)",
            (LISTENER, "callback-monitor viewer"),
        ).fetchall()
    assert len(cut) >= 2
    label = window.status.connection
    qtbot.waitUntil(lambda: label.text().startswith("connection lost"))
    team.send(2)
    qtbot.waitUntil(lambda: label.text() == "reconnected", timeout=10_000)
    qtbot.waitUntil(lambda: rows(window) == 3)


def test_the_documented_viewer_role_attaches_and_reads(
    qtbot: QtBot,
    host: WindowHost,
    roles: Cluster,
) -> None:
    owner = TeamReceiver(roles.url("callbacks", user="cm_owner"))  # migrates, then receives
    try:
        owner.send(2)
        local = host.open("")
        connect_through_dialog(qtbot, local, roles.url("callbacks", user="cm_viewer"), PASSWORD)
        qtbot.waitUntil(lambda: host.window is not local)
        window = host.window
        assert window is not None
        qtbot.waitUntil(lambda: rows(window) == 2)
        owner.send(1)
        qtbot.waitUntil(lambda: rows(window) == 3)
    finally:
        if host.window is not None:
            host.window.close()
        owner.close()


def test_a_role_without_the_viewer_grants_is_told_to_ask_for_them(
    qtbot: QtBot,
    host: WindowHost,
    roles: Cluster,
) -> None:
    owner = TeamReceiver(roles.url("callbacks", user="cm_owner"))
    try:
        roles.admin("REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM cm_viewer", dbname="callbacks")
        local = host.open("")
        connect_through_dialog(qtbot, local, roles.url("callbacks", user="cm_viewer"), PASSWORD)
        dialog = local.team_actions.dialog
        assert dialog is not None
        qtbot.waitUntil(lambda: "permission denied" in dialog.message.text())
        assert "viewer GRANTs in docs/TEAM.md" in dialog.message.text()
    finally:
        owner.close()


def click_tab(window: MainWindow, widget: QWidget) -> None:
    bar = window.tabs.tabBar()
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(window.tabs.indexOf(widget)).center())


def test_an_attached_window_reads_statistics_error_counts_and_exports(
    qtbot: QtBot, host: WindowHost, team: TeamReceiver, tmp_path: Path
) -> None:
    team.send(2)
    team.send(1, "failed", ErrorCode="30003")
    window = attached(qtbot, host, team.url)
    qtbot.waitUntil(lambda: rows(window) == 3)

    click_tab(window, window.stats_view)
    qtbot.waitUntil(lambda: window.stats_view.outbound.value.text() == "3")

    panel = window.error_panel
    click_tab(window, panel)
    QTest.keyClicks(panel.search, "30003")
    qtbot.waitUntil(lambda: panel.results.count() > 0)
    item = panel.results.item(0)
    QTest.mouseClick(
        panel.results.viewport(), Qt.MouseButton.LeftButton, pos=panel.results.visualItemRect(item).center()
    )
    qtbot.waitUntil(lambda: panel.counts == (1, 1))

    click_tab(window, window.messages)
    dest = tmp_path / "team.csv"
    with qtbot.waitSignal(
        window.status.messageChanged, timeout=10000, check_params_cb=lambda t: t.startswith("Exported")
    ):
        assert window.export_csv(dest)
    with dest.open(encoding="utf-8", newline="") as fh:
        exported = list(csv.DictReader(fh))
    assert sorted(r["status"] for r in exported) == ["delivered", "delivered", "failed"]


def test_an_attached_window_switches_off_what_needs_this_computers_receiver(
    qtbot: QtBot, host: WindowHost, team: TeamReceiver
) -> None:
    window = attached(qtbot, host, team.url)
    for action in (
        window.simulate_action,
        window.prune_action,
        window.purge_simulated_action,
        window.validate_action,
        window.live.actions["wizard"],
        window.live.actions["start_tunnel"],
        window.reconcile.action,
    ):
        assert action is not None and not action.isEnabled()
        assert "the team's receivers write this database" in action.toolTip()
    assert window.export_action.isEnabled() and window.team_actions.local_action.isEnabled()
    # the toolbar offers only what a viewer can do
    shown = [a.text() for a in window.toolbar.actions() if window.toolbar.widgetForAction(a).isVisible()]
    assert shown == [window.export_action.text()]
    # an empty team database says where its rows come from, and offers no simulation
    qtbot.waitUntil(lambda: window.messages.table_stack.currentIndex() == 1)
    assert "team's receivers store them" in window.messages.empty_hint.text()
    assert not window.messages.simulate_button.isVisible()
    assert not window.status.local.isVisible() and not window.banner.isVisible()
    assert not window.controller.running  # no embedded receiver


def test_back_to_this_computers_database(
    qtbot: QtBot, host: WindowHost, team: TeamReceiver, tmp_settings: QSettings
) -> None:
    team.send(2)
    tmp_settings.setValue(TEAM_URL_KEY, team.url)
    window = attached(qtbot, host, team.url)
    qtbot.waitUntil(lambda: rows(window) == 2)
    choose_from_file_menu(qtbot, window, window.team_actions.local_action)
    qtbot.waitUntil(lambda: host.window is not window)
    local = host.window
    assert local is not None and local.team is None and local.controller.running
    assert rows(local) == 0
    local.status.update_facts()
    assert local.status.local.text().startswith("Local :")
    assert local.status.local.toolTip().startswith("This computer's database ")
    assert "local.db, written by this window's receiver" in local.status.local.toolTip()
    assert tmp_settings.value(TEAM_URL_KEY) is None


def test_closing_an_attached_window_stops_listening_at_once(
    qtbot: QtBot, host: WindowHost, team: TeamReceiver
) -> None:
    window = attached(qtbot, host, team.url)
    assert any(t.name == "team-listener" for t in threading.enumerate())
    window.close()  # returns once the close sequence has run: the listener is stopped, not abandoned
    assert not window.isVisible()
    assert not any(t.name == "team-listener" for t in threading.enumerate())
    with psycopg.connect(team.url, password=PASSWORD, autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (LISTENER,))
        assert left.fetchone() == (0,)


def dismiss_boxes(into: list[str]) -> None:
    """Answer the next modal message box (as a person clicks OK), noting its text."""
    box = QApplication.activeModalWidget()
    if isinstance(box, QMessageBox):
        into.append(box.text())
        box.accept()
    else:
        QTimer.singleShot(50, lambda: dismiss_boxes(into))


def close_when(ready: Callable[[MainWindow], bool], look: Callable[[MainWindow], None]) -> None:
    """Once the app's window is shown and ``ready``: ``look`` at it, then close it (the app ends)."""
    windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
    if not windows or not ready(windows[0]):
        QTimer.singleShot(50, lambda: close_when(ready, look))
        return
    look(windows[0])
    windows[0].close()


def test_store_url_on_the_command_line_opens_the_window_attached(
    qapp: QApplication, team: TeamReceiver, restore_logging: None
) -> None:
    team.send(2)
    SecretStore(keyring.get_keyring()).set(target_of(team.url).keyring_name, PASSWORD)
    seen: dict[str, object] = {}

    def look(window: MainWindow) -> None:
        seen["team"], seen["receiver"] = window.team is not None, window.controller.running

    QTimer.singleShot(100, lambda: close_when(lambda w: rows(w) == 2, look))
    assert desktop_app.main(db=team.url) == 0
    assert seen == {"team": True, "receiver": False}
    assert not any(t.name in ("team-listener", "receiver-waitress") for t in threading.enumerate())


def test_a_store_url_that_cannot_be_shown_says_why_and_opens_nothing(
    qapp: QApplication, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    boxes: list[str] = []
    QTimer.singleShot(50, lambda: dismiss_boxes(boxes))
    assert desktop_app.main(db="postgresql://cm_viewer@127.0.0.1:1/callbacks") == desktop_app.EXIT_BAD_STORE
    err = capsys.readouterr().err
    assert "Cannot reach the team database server at 127.0.0.1:1" in err
    assert boxes and "Cannot reach" in boxes[0]


def test_the_team_database_shown_last_time_is_shown_again_at_start(
    qapp: QApplication, team: TeamReceiver, tmp_settings: QSettings, restore_logging: None
) -> None:
    team.send(1)
    tmp_settings.setValue(TEAM_URL_KEY, team.url)  # Connect to a team database… remembered it
    tmp_settings.sync()
    seen: dict[str, object] = {}

    def look(window: MainWindow) -> None:
        seen["team"] = window.team.name if window.team is not None else None
        seen["others"] = [
            w.objectName() for w in QApplication.topLevelWidgets() if w.isVisible() and w is not window
        ]

    QTimer.singleShot(100, lambda: close_when(lambda w: rows(w) == 1, look))
    assert desktop_app.main() == 0
    assert seen == {"team": team_name(target_of(team.url)), "others": []}  # no connecting dialog left over


def test_a_remembered_team_database_that_cannot_be_reached_opens_this_computers_instead(
    qapp: QApplication, tmp_settings: QSettings, restore_logging: None
) -> None:
    tmp_settings.setValue(TEAM_URL_KEY, "postgresql://cm_viewer@127.0.0.1:1/callbacks")
    tmp_settings.sync()
    boxes: list[str] = []
    seen: dict[str, object] = {}

    def look(window: MainWindow) -> None:
        seen["team"], seen["receiver"] = window.team, window.controller.running

    QTimer.singleShot(50, lambda: dismiss_boxes(boxes))
    QTimer.singleShot(100, lambda: close_when(lambda w: True, look))
    assert desktop_app.main() == 0
    assert seen == {"team": None, "receiver": True}
    assert boxes and "Cannot reach" in boxes[0] and "Showing this computer's database instead" in boxes[0]
