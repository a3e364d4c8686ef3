from services.generation.circuit_breaker import CircuitBreaker


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_the_threshold_of_failures_in_a_row():
    breaker = CircuitBreaker(failure_threshold=3, open_s=30, clock=Clock())

    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success in between resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()

    assert breaker.state == "open"
    assert not breaker.allow()


def test_half_open_lets_one_probe_through_and_its_success_closes_the_circuit():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=30, clock=clock)
    breaker.record_failure()
    clock.now += 29.9
    assert not breaker.allow() and breaker.retry_in() > 0

    clock.now += 0.1
    assert breaker.state == "half-open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # everyone else waits for it
    breaker.record_success()

    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_failed_probe_opens_the_circuit_for_another_period():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=5, open_s=10, clock=clock)
    for _ in range(5):
        breaker.record_failure()
    clock.now += 10
    assert breaker.allow()

    breaker.record_failure()

    assert breaker.state == "open" and breaker.retry_in() == 10
    clock.now += 10
    assert breaker.state == "half-open"


def test_a_probe_that_ends_without_a_verdict_lets_another_caller_probe():
    clock = Clock()
    breaker = CircuitBreaker(failure_threshold=1, open_s=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()

    breaker.release()

    assert breaker.allow()
