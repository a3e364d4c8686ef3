import email.utils

import pytest

from services.generation.retry import RetryPolicy, retry_after_s


def test_backoff_grows_exponentially_up_to_the_cap_with_at_most_a_quarter_of_jitter():
    policy = RetryPolicy(max_attempts=10, backoff_s=0.5, backoff_max_s=3.0)

    delays = [policy.delay(attempt, None) for attempt in range(1, 6)]

    for delay, full in zip(delays, [0.5, 1.0, 2.0, 3.0, 3.0]):
        assert 0.75 * full <= delay <= full


def test_the_last_attempt_is_not_followed_by_a_wait():
    policy = RetryPolicy(max_attempts=3)

    assert policy.delay(2, None) is not None
    assert policy.delay(3, None) is None
    assert policy.delay(3, 0.1) is None


def test_retry_after_wins_over_backoff_unless_it_is_too_long():
    policy = RetryPolicy(max_attempts=3, backoff_s=0.5, retry_after_max_s=5.0)

    assert policy.delay(1, 4.0) == 4.0
    assert policy.delay(1, 0.0) == 0.0
    assert policy.delay(1, 5.5) is None  # go to the next endpoint instead of waiting


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "soon"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_headers_are_read_in_seconds(headers, expected):
    assert retry_after_s(headers) == expected


def test_retry_after_as_an_http_date():
    now = 1_750_000_000.0
    header = email.utils.formatdate(now + 30, usegmt=True)

    assert retry_after_s({"retry-after": header}, now=now) == pytest.approx(30, abs=1)
    assert retry_after_s({"retry-after": email.utils.formatdate(now - 30, usegmt=True)}, now=now) == 0.0
