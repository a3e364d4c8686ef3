"""Why a question could not be answered, independent of the transport."""

from __future__ import annotations

from typing import Literal


class InvalidQuestion(ValueError):
    """The request is malformed; the message says how to fix it."""


# unavailable: may pass, retry later. denied: the caller may not do this.
# failed: will not pass by retrying (a misconfiguration or a broken contract).
Failure = Literal["unavailable", "denied", "failed"]


class DependencyError(Exception):
    """A service or the model endpoint this service depends on failed."""

    def __init__(self, dependency: str, reason: str, failure: Failure):
        super().__init__(f"{dependency}: {reason}")
        self.dependency = dependency
        self.reason = reason
        self.failure = failure
