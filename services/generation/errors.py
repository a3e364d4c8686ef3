"""Why a request could not be served, independent of the transport."""

from __future__ import annotations

from typing import Literal


class InvalidRequest(ValueError):
    """The request is malformed; the message says how to fix it."""


class UnknownAnswer(LookupError):
    """Feedback names an answer this caller was not given (or no longer remembered)."""


# unavailable: may pass, retry later. denied: the caller may not do this.
# failed: will not pass by retrying (a misconfiguration or a broken contract).
Failure = Literal["unavailable", "denied", "failed"]


class DependencyError(Exception):
    """A service, the model endpoint or a store this service depends on failed."""

    def __init__(self, dependency: str, reason: str, failure: Failure):
        super().__init__(f"{dependency}: {reason}")
        self.dependency = dependency
        self.reason = reason
        self.failure = failure
