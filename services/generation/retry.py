"""When to call a model endpoint again after a failure, and how long to wait."""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass
from typing import Mapping

from ragline.config import env_float, env_int


@dataclass(frozen=True)
class RetryPolicy:
    # Calls to one endpoint for one answer, the first included.
    max_attempts: int = 3
    # Exponential backoff: backoff_s, 2*backoff_s, ... at most backoff_max_s, less up to 25% jitter.
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    # A Retry-After longer than this is not waited for: the next endpoint is tried instead.
    retry_after_max_s: float = 10.0

    @classmethod
    def from_env(cls) -> "RetryPolicy":
        return cls(
            max_attempts=env_int("RAGLINE_MODEL_MAX_ATTEMPTS", 3, minimum=1, maximum=10),
            backoff_s=env_float("RAGLINE_MODEL_BACKOFF_S", 0.5, minimum=0.0),
            backoff_max_s=env_float("RAGLINE_MODEL_BACKOFF_MAX_S", 8.0, minimum=0.0),
            retry_after_max_s=env_float("RAGLINE_MODEL_RETRY_AFTER_MAX_S", 10.0, minimum=0.0),
        )

    def delay(self, attempt: int, retry_after_s: float | None) -> float | None:
        """Seconds to wait before the next attempt at the same endpoint, or None to
        stop trying it. `attempt` is the number of the attempt that just failed."""
        if attempt >= self.max_attempts:
            return None
        if retry_after_s is not None:
            # The server said when it will take the call again: that wins over our backoff.
            return retry_after_s if retry_after_s <= self.retry_after_max_s else None
        backoff = min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s)
        # Jitter so that the clients a failure hit at once do not come back at once.
        return backoff * (1 - 0.25 * random.random())


def retry_after_s(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """The wait a response asks for: `retry-after-ms`, or `retry-after` in seconds
    or as an HTTP date. None when absent or unreadable."""
    if not headers:
        return None
    milliseconds = headers.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return _non_negative(float(milliseconds) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return _non_negative(float(value))
    except ValueError:
        pass
    moment = email.utils.parsedate_tz(value)
    if moment is None:
        return None
    return max(0.0, email.utils.mktime_tz(moment) - (time.time() if now is None else now))


def _non_negative(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) and seconds >= 0 else None
