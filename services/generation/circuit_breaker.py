"""A circuit breaker per model endpoint: stop calling an endpoint that keeps failing.

closed: calls go through; `failure_threshold` failures in a row open it.
open: calls are refused at once (the router goes to the next endpoint) until
`open_s` have passed.
half-open: one probe call goes through; its success closes the circuit, its
failure opens it again for another `open_s`. Other calls are refused while
the probe is out.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Literal

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    def __init__(self, failure_threshold: int, open_s: float, clock: Callable[[], float] = time.monotonic):
        self._threshold = failure_threshold
        self._open_s = open_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at < self._open_s:
            return "open"
        return "half-open"

    def allow(self) -> bool:
        """Whether a call may go out now. In half-open, True once: the caller is the probe."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half-open" and not self._probing:
                self._probing = True
                return True
            return False

    def retry_in(self) -> float:
        """Seconds until an open circuit lets a probe through (0 when it would now)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._open_s - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self._threshold:
                self._opened_at = self._clock()
            self._probing = False

    def release(self) -> None:
        """The call that was let through ended without telling anything about the
        endpoint (the client went away): let another call probe."""
        with self._lock:
            self._probing = False
