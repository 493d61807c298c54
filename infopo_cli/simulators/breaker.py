"""The circuit breaker of a server-backed simulator: failures that repeat are a cause, not bad luck.

Per-request retries suit a server that hiccups. They do not suit one that is not there, or that
rejects every request the same way: then each conversation pays the whole retry schedule, is
excluded, and the run ends looking like a measured result. The breaker watches failed requests
across conversations (one cause in a row: connection refused, timeouts, one HTTP status) and

- stops the run (``FatalSimulatorError``, one line naming the cause and the key to check) when
  the cause cannot be transient: connection refused while no request has ever succeeded, once
  ``simulator.connect_grace_s`` has passed (a wrong port); or the same HTTP 4xx
  ``simulator.max_consecutive_failures`` times in a row, or for every request of the first batches
  (a request the server will never accept, e.g. ``max_tokens`` above its context length);
- opens on any other cause repeated ``max_consecutive_failures`` times (a server that died or
  stalls): the rest of the batch fails at once instead of retrying, so the outage costs seconds,
  and the failure budget (``simulator.max_failure_rate``) decides what the run does. Each new batch
  tries the server again (half-open); one success closes the breaker.
"""

from __future__ import annotations

import threading
import time

from infopo_cli.simulators.base import FatalSimulatorError

REFUSED = "connection refused"


class Breaker:
    def __init__(self, max_consecutive: int, grace_s: float, describe: str) -> None:
        self.max_consecutive = max_consecutive
        self.grace_s = grace_s
        self.describe = describe  # "simulator=openai at <url>", for the messages
        self.wake = threading.Event()  # set when waiting on a retry is pointless (open or fatal)
        self.open_reason: str | None = None
        self.ever_succeeded = False
        self._lock = threading.Lock()
        self._first_refused: float | None = None
        self._kind: str | None = None
        self._streak = 0

    def half_open(self) -> None:
        """A new batch: ask the server again. The streak is kept, so one more failure of the same
        cause reopens the breaker at once."""
        with self._lock:
            self.open_reason = None
            self.wake.clear()

    def success(self) -> None:
        with self._lock:
            self.ever_succeeded = True
            self._kind, self._streak = None, 0
            self.open_reason = None

    def failure(self, kind: str, message: str, *, client_error: bool = False) -> None:
        """Record one failed request. Raises FatalSimulatorError when the run must stop; opens the
        breaker when the server looks gone."""
        with self._lock:
            self._streak = self._streak + 1 if kind == self._kind else 1
            self._kind = kind
            if kind == REFUSED and not self.ever_succeeded:
                self._refused_before_success()
                return
            if not self.max_consecutive or self._streak < self.max_consecutive:
                return
            if client_error:
                self.wake.set()
                raise FatalSimulatorError(self._rejected_message(message))
            if self.open_reason is None:
                self.open_reason = (
                    f"the server stopped answering ({self._streak} failed requests in a row, "
                    f"last: {message}); check the server at simulator.base_url"
                )
                self.wake.set()

    def end_batch(self, n_requests: int, last_message: str | None) -> None:
        """Every request of a batch rejected with one HTTP 4xx, and none ever accepted: fatal now,
        even when the batch is smaller than ``max_consecutive_failures``."""
        with self._lock:
            kind, streak = self._kind, self._streak
        if (
            self.max_consecutive
            and not self.ever_succeeded
            and kind is not None
            and kind.startswith("HTTP 4")
            and streak >= n_requests > 0
        ):
            raise FatalSimulatorError(self._rejected_message(last_message or kind))

    def wait_cap(self) -> float | None:
        """While refused before any success: seconds until the grace ends (a retry wakes then, so a
        wrong port is reported after ``connect_grace_s``, not after the whole retry schedule)."""
        with self._lock:
            if self._kind != REFUSED or self.ever_succeeded or self._first_refused is None:
                return None
            return max(0.0, self._first_refused + self.grace_s - time.monotonic()) + 0.01

    def _refused_before_success(self) -> None:
        now = time.monotonic()
        if self._first_refused is None:
            self._first_refused = now
        waited = now - self._first_refused
        if waited >= self.grace_s:
            self.wake.set()
            raise FatalSimulatorError(
                f"{self.describe}: connection refused for {waited:.0f} s and no request has "
                "succeeded: check simulator.base_url (is the server running, on that port?)"
            )

    def _rejected_message(self, message: str) -> str:
        return (
            f"{self.describe}: {self._streak} requests in a row rejected ({self._kind}): check simulator.max_tokens against the server's context length, "
            f"simulator.model and the server's log. Last: {message}"
        )
