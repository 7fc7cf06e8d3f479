"""Run ``receiver.simulate`` against the embedded receiver, off the GUI thread, reporting by signal.

The simulator signs like Twilio; when no real auth token is configured the controller is given the
demo token so the receiver accepts the demo traffic (and nothing else is weakened: validation stays on).
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from desktop.receiver_controller import ReceiverController
from receiver import simulate
from receiver.secrets import TWILIO_AUTH_TOKEN


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
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def token(self) -> tuple[str, bool]:
        """The token to sign with, and whether it is the demo token (the receiver is then told to
        accept it)."""
        real = self.controller.secrets.get(TWILIO_AUTH_TOKEN)
        if real:
            return real, False
        return simulate.DEMO_AUTH_TOKEN, True

    def start(self, messages: int = 50, rate: float = 20.0, seed: int | None = None) -> bool:
        if self.running:
            self.failed.emit("A simulation is already running.")
            return False
        if not self.controller.running:
            self.failed.emit("The receiver is not running, so there is nothing to send traffic to.")
            return False
        token, demo = self.token()
        if demo:
            self.controller.demo_token = simulate.DEMO_AUTH_TOKEN
            self.controller.configChanged.emit()
        cfg = simulate.SimConfig(
            target=self.controller.local_url,
            public_url=self.controller.webhook_base,
            auth_token=token,
            messages=messages,
            rate=rate,
            seed=seed,
        )
        self._stop = threading.Event()
        stop = self._stop

        def work() -> None:
            try:
                result = simulate.run(cfg, on_progress=self.progress.emit, stop=stop)
            except Exception as exc:  # reported to the operator, not swallowed
                self.failed.emit(f"Simulation failed: {exc}")
                return
            codes = ", ".join(f"{n}× HTTP {code}" for code, n in result.by_status.items()) or "no answers"
            note = " (stopped)" if result.stopped else ""
            signer = "the demo token" if demo else "your auth token"
            self.finished.emit(
                f"Simulated {result.messages} messages and {result.inbound} replies: {result.sent} requests "
                f"signed with {signer} in {result.elapsed_s:.1f} s — {codes}{note}"
            )

        self._thread = self.controller.run_in_background("simulate", work)
        return True

    def stop(self) -> None:
        """Ask the run to stop (requests in flight finish); the controller joins the thread on stop."""
        self._stop.set()
