"""Confirms in the background that audit records reached Kafka.

Screens answer without waiting for the broker: the guardrail sits twice on
every question's path, and the producer (idempotent, acks=all) keeps retrying
queued records on its own. Flushing every interval turns a record that could
not be delivered into an error in the log within seconds instead of at
shutdown; the last flush on stop sends whatever is still queued.
"""

from __future__ import annotations

import logging
import threading

from confluent_kafka import KafkaException

from ragline.kafka import EventProducer

log = logging.getLogger(__name__)


class PeriodicFlush:
    def __init__(self, producer: EventProducer, interval_s: float, final_timeout_s: float = 30.0):
        self._producer = producer
        self._interval_s = interval_s
        self._final_timeout_s = final_timeout_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-flush", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self._flush(self._final_timeout_s)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval_s):
            self._flush(self._interval_s)

    def _flush(self, timeout_s: float) -> None:
        try:
            self._producer.flush(timeout_s)
        except KafkaException as error:
            log.error("audit records not confirmed by Kafka", extra={"fields": {"error": str(error)}})
