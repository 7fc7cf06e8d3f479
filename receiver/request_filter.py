"""What the operator asks of the request log: an outcome and a piece of text, as plain values (no SQL)."""

from __future__ import annotations

from dataclasses import dataclass

OUTCOMES = ("accepted", "duplicate", "rejected")  # what the receiver answered a request with


@dataclass(frozen=True)
class RequestFilter:
    """``outcome`` None: any; ``text``: a substring of the path, the reason or the message SID."""

    outcome: str | None = None
    text: str = ""

    def __post_init__(self) -> None:
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r}")
        object.__setattr__(self, "text", self.text.strip())

    @property
    def is_empty(self) -> bool:
        return self.outcome is None and not self.text
