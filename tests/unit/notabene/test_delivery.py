import pytest

from notabene import Decision, Delivery


def make() -> Delivery:
    return Delivery(b'{"a": 1}', "q", 7)


def test_a_rejection_wins_over_acks_and_keeps_its_first_reason() -> None:
    delivery = make()
    delivery.ack()
    decisions = [delivery.decision]
    delivery.reject("first")
    delivery.ack()
    delivery.reject("second")
    decisions.append(delivery.decision)
    assert decisions == [Decision.ACK, Decision.REJECT]
    assert delivery.reason == "first"


def test_json_and_defaults() -> None:
    delivery = make()
    assert delivery.json() == {"a": 1}
    assert delivery.headers == {}
    assert delivery.decision is None
    assert "pending" in repr(delivery)


def test_json_of_a_bad_body_raises_value_error() -> None:
    with pytest.raises(ValueError):
        Delivery(b"not json", "q", 1).json()
