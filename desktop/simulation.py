"""Run ``receiver.simulate`` against the embedded receiver, off the GUI thread, reporting by signal.

The simulator signs like Twilio, but always with the public demo token, never the operator's auth token:
simulated traffic must never pass for real. It sends to the local URL, straight (no tunnel), and the
receiver accepts the demo token only from this computer and only while the run lasts; what it accepts is
marked simulated, so statistics can leave it out and the operator can purge it.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from desktop.receiver_controller import ReceiverController
from receiver import simulate
from receiver.public_url import with_userinfo
from receiver.simulate_plan import DEMO_AUTH_TOKEN, SimConfig


class SimulationRunner(QObject):
    """One simulation at a time.

    Signals:
        progress(int, int): requests sent so far, requests planned (queued to the GUI thread).
        finished(str): a one-line summary of the run.
        failed(str): the run could not start or crashed; the reason.
    """

    progress = Signal(int, int)
    finished = Signal(str)
    failed = Signal(str)

    def __init__(self, controller: ReceiverController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._stop = threading.Event()
        self._running = False

    @property
    def running(self) -> bool:
        """From ``start`` until ``finished`` or ``failed`` is emitted."""
        return self._running

    def start(self, messages: int = 50, rate: float = 20.0, seed: int | None = None) -> bool:
        if self.running:
            self.failed.emit("A simulation is already running.")
            return False
        if not self.controller.running:
            self.failed.emit("The receiver is not running, so there is nothing to send traffic to.")
            return False
        target = self.controller.local_url
        auth = self.controller.config.basic_auth
        if auth is not None:  # the receiver asks everyone for the public URL's credentials
            target = with_userinfo(target, auth)
        cfg = SimConfig(
            target=target,
            public_url=None,  # signed for the local URL it is sent to: never through the tunnel
            auth_token=DEMO_AUTH_TOKEN,
            messages=messages,
            rate=rate,
            seed=seed,
        )
        self._stop = threading.Event()
        stop = self._stop
        controller = self.controller
        controller.set_simulating(True)

        def work() -> str:
            try:
                result = simulate.run(cfg, on_progress=self.progress.emit, stop=stop)
            finally:
                controller.set_simulating(False)  # the demo token stops counting with the run
            codes = ", ".join(f"{n}× HTTP {code}" for code, n in result.by_status.items()) or "no answers"
            note = " (stopped)" if result.stopped else ""
            return (
                f"Simulated {result.messages} messages and {result.inbound} replies: {result.sent} requests "
                f"signed with the public demo token (marked simulated) in {result.elapsed_s:.1f} s — "
                f"{codes}{note}"
            )

        self._running = True
        self.controller.tasks.run("simulate", work, on_done=self._finished, on_error=self._failed)
        return True

    def _finished(self, summary: str) -> None:
        self._running = False
        self.finished.emit(summary)

    def _failed(self, exc: BaseException) -> None:
        self._running = False
        self.failed.emit(f"Simulation failed: {exc}")

    def stop(self) -> None:
        """Ask the run to stop (requests in flight finish); the controller's tasks are joined on stop."""
        self._stop.set()
