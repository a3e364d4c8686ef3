"""Kills services with SIGKILL at planned moments and restarts them, beside the stream."""

from __future__ import annotations

import random
import signal
import threading
import time
from dataclasses import dataclass

from ragline.cli.launcher import ServiceLauncher


@dataclass(frozen=True)
class Crash:
    at_s: float  # seconds after the stream started
    service: str


@dataclass(frozen=True)
class CrashRecord:
    crash: Crash
    pid: int
    killed_at_s: float
    ready_after_s: float  # from the kill until the new process answered SERVING


def plan_crashes(rng: random.Random, services: tuple[str, ...], extra: int, window_s: float) -> list[Crash]:
    """Each service once plus `extra` more, at random moments in the middle 90% of the window."""
    victims = [*services, *rng.choices(services, k=extra)]
    moments = sorted(rng.uniform(0.05, 0.95) * window_s for _ in victims)
    rng.shuffle(victims)
    return [Crash(at, service) for at, service in zip(moments, victims)]


class CrashSchedule(threading.Thread):
    """Runs the crashes in order; `records` says what happened, `error` what went wrong."""

    def __init__(self, launcher: ServiceLauncher, crashes: list[Crash], started: float):
        super().__init__(name="crash-schedule", daemon=True)
        self._launcher = launcher
        self._crashes = crashes
        self._stream_started = started
        self.records: list[CrashRecord] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for crash in self._crashes:
                time.sleep(max(0.0, self._stream_started + crash.at_s - time.monotonic()))
                pid = self._launcher.pid(crash.service)
                assert pid is not None, f"{crash.service} is not running at {crash.at_s:.1f}s"
                killed = time.monotonic()
                # stop() with SIGKILL also reaps the process, so the pid file cannot point at a zombie.
                self._launcher.stop(crash.service, sig=signal.SIGKILL)
                self._launcher.start(crash.service)
                self._launcher.wait_ready(crash.service, timeout=120)
                self.records.append(CrashRecord(crash, pid, killed - self._stream_started, time.monotonic() - killed))
        except BaseException as error:  # noqa: BLE001 - reported by the test's main thread
            self.error = error
