"""Classification: which answers are success, worth retrying, or final."""

from __future__ import annotations

import pytest

from tap_mixoads.errors import APIRequestError, RateLimitedError, RetriableError
from tap_mixoads.http.classify import classify
from tests.unit.fakes import response


def test_a_2xx_with_json_passes():
    classify(response(200, {"data": []}))


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, RetriableError), (503, RetriableError), (400, APIRequestError)],
)
def test_statuses_are_sorted(status, error):
    with pytest.raises(error) as caught:
        classify(response(status, {"error": "x"}))
    assert str(status) in str(caught.value)


def test_a_429_carries_the_delay_the_server_asked_for():
    with pytest.raises(RateLimitedError) as caught:
        classify(response(429, {"retry_after": 7}, headers={"Retry-After": "3"}))
    assert caught.value.retry_after == 3.0  # the header wins over the body


def test_a_429_without_a_header_reads_the_body():
    with pytest.raises(RateLimitedError) as caught:
        classify(response(429, {"retry_after": 7}))
    assert caught.value.retry_after == 7.0


def test_a_401_after_a_fresh_token_is_final_and_says_so():
    with pytest.raises(APIRequestError) as caught:
        classify(response(401, {"error": "Unauthorized"}))
    assert not isinstance(caught.value, RetriableError)
    assert "with a freshly issued token" in str(caught.value)


def test_a_2xx_with_a_broken_body_is_retried_and_named():
    with pytest.raises(RetriableError) as caught:
        classify(response(200, b"{not json", path="/api/campaigns"))
    assert "GET /api/campaigns answered 200 with a malformed JSON body" in str(
        caught.value
    )
