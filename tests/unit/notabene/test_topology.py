import pytest

from notabene import QueueSpec, failed_queue_name
from stacktach.exceptions import ConfigError


def test_defaults() -> None:
    spec = QueueSpec(name="monitor.info", exchange="nova")
    assert spec.binding_key == "monitor.info"
    assert (
        spec.failed_name == "monitor.info.failed" == failed_queue_name("monitor.info")
    )
    assert spec.durable and spec.dead_letter and spec.exchange_type == "topic"


def test_native_dead_letter_arguments_only_when_asked() -> None:
    spec = QueueSpec(name="q", exchange="x", arguments={"x-queue-type": "quorum"})
    assert spec.queue_arguments(native_dead_letter=False) == {"x-queue-type": "quorum"}
    assert spec.queue_arguments(native_dead_letter=True) == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "q.failed",
    }
    assert spec.failed_arguments() == {"x-queue-type": "quorum"}


def test_explicit_dead_letter_arguments_win() -> None:
    spec = QueueSpec(
        name="q", exchange="x", arguments={"x-dead-letter-exchange": "dlx"}
    )
    args = spec.queue_arguments(native_dead_letter=True)
    assert args["x-dead-letter-exchange"] == "dlx"


def test_no_dead_letter_means_no_arguments() -> None:
    spec = QueueSpec(name="q", exchange="x", dead_letter=False)
    assert spec.queue_arguments(native_dead_letter=True) == {}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "needs a name"),
        ({"exchange_type": "headers"}, "unknown exchange type"),
        ({"durable": False, "arguments": {"x-queue-type": "quorum"}}, "quorum"),
        ({"name": "q.failed"}, "dead-letter queue"),
    ],
)
def test_invalid_specs_are_config_errors(kwargs: dict[str, object], match: str) -> None:
    values: dict[str, object] = {"name": "q", "exchange": "x", **kwargs}
    with pytest.raises(ConfigError, match=match):
        QueueSpec(**values)  # type: ignore[arg-type]
