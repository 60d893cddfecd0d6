"""Retry policies as the local host reads them from the app."""

import pytest

from devhost.retry import RetryPolicy, timespan
from triggers.retries import EXPONENTIAL

pytestmark = pytest.mark.unit


def test_the_apps_exponential_policy_doubles_from_the_minimum_up_to_the_maximum():
    policy = RetryPolicy.from_settings({"setting_name": "retry_policy", **EXPONENTIAL})
    assert policy.max_retry_count == 5
    assert [policy.delay_before(n) for n in range(1, 7)] == [2, 4, 8, 16, 32, 60]


def test_a_fixed_delay_policy_waits_the_same_each_time():
    policy = RetryPolicy.from_settings(
        {"strategy": "fixed_delay", "max_retry_count": "3", "delay_interval": "00:00:10"}
    )
    assert (policy.max_retry_count, policy.delay_before(1), policy.delay_before(3)) == (3, 10, 10)


def test_no_policy_means_one_attempt():
    assert RetryPolicy.from_settings(None).max_retry_count == 0


@pytest.mark.parametrize(
    ("text", "seconds"), [("00:00:02", 2), ("00:01:00.5", 60.5), ("1.02:00:00", 93600)]
)
def test_time_spans_read_as_dotnet_writes_them(text, seconds):
    assert timespan(text) == seconds
