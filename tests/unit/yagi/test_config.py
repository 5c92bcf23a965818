"""yagi.conf loading: the original sample files, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktach.exceptions import ConfigError
from yagi import config as yagi_config


def test_the_sandbox_files_concatenated_load(corpus_config: Path) -> None:
    warnings: list[str] = []
    config = yagi_config.load(
        [corpus_config / "yagi.conf.common", corpus_config / "yagi.conf.winchester"],
        warn=warnings.append,
    )
    [consumer] = config.consumers
    assert consumer.queue == "monitor.info"
    assert consumer.exchange == "monitor" and consumer.routing_key == "monitor.info"
    assert consumer.max_messages == 100 and consumer.durable
    assert consumer.apps == (
        "winchester.yagi_handler.WinchesterHandler",
        "yagi.handler.shoebox_handler.ShoeboxHandler",
    )
    assert config.broker_url == "amqp://guest:guest@localhost:5672//"
    assert config.update_timer == 10
    assert config.section("winchester", "monitor.info") == {
        "config_file": "winchester.yaml"
    }
    assert config.section("shoebox", "monitor.info")["roll_size_mb"] == "20"
    assert any("[oahu]" in w for w in warnings)  # ignored, but said
    assert any(
        "[rabbit_broker] poll_delay is accepted and not used" in w for w in warnings
    )


BASE = """
[rabbit_broker]
url = memory://
[consumers]
queues = q1
[consumer:q1]
apps = winchester
exchange = nova
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "yagi.conf"
    path.write_text(text)
    return path


def test_url_per_queue_overrides_and_deployment(tmp_path: Path) -> None:
    config = yagi_config.load(
        [
            write(
                tmp_path,
                BASE + "deployment = cell-7\n[global]\ndeployment = region-1\n"
                "[winchester]\nconfig_file = a.yaml\n"
                "[winchester:q1]\nconfig_file = b.yaml\n",
            )
        ]
    )
    assert config.broker_url == "memory://"
    assert config.consumers[0].deployment == "cell-7"
    assert config.deployment == "region-1"
    assert config.section("winchester", "q1") == {"config_file": "b.yaml"}


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ("[consumer:q1]\nmax_messages = 5\n", "section 'consumer:q1' already exists"),
        (
            "[rabit_broker]\nhost = x\n",
            "unknown section [rabit_broker]; did you mean [rabbit_broker]",
        ),
        (
            "[global]\nupdate_timr = 5\n",
            "[global] update_timr: unknown key; did you mean 'update_timer'",
        ),
        ("[global]\nupdate_timer = soon\n", "[global] update_timer: expected a number"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, extra: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        yagi_config.load([write(tmp_path, BASE + extra)])
    assert fragment in str(info.value)
    assert str(tmp_path / "yagi.conf") in str(info.value)


def test_a_listed_queue_needs_its_section_and_apps(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"queue 'q2' is listed .* no \[consumer:q2\]"
    ):
        yagi_config.load(
            [write(tmp_path, BASE.replace("queues = q1", "queues = q1, q2"))]
        )
    with pytest.raises(ConfigError, match=r"\[consumer:q1\] apps: required"):
        yagi_config.load([write(tmp_path, BASE.replace("apps = winchester", "apps ="))])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        yagi_config.load([tmp_path / "absent.conf"])


TWO = BASE.replace("queues = q1", "queues = q1, q2") + (
    "[consumer:q2]\napps = winchester\nexchange = glance\n"
)


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("[consumer:q2]\nmax_wait = 2\n", "[consumer:q2] max_wait"),
        ("[consumer:q2]\nprefetch = 10\n", "[consumer:q2] prefetch"),
    ],
)
def test_per_queue_settings_one_process_cannot_honour_are_refused(
    tmp_path: Path, extra: str, where: str
) -> None:
    text = TWO.replace("[consumer:q2]\n", extra, 1)
    with pytest.raises(ConfigError) as caught:
        yagi_config.load([write(tmp_path, text)])
    message = str(caught.value)
    assert str(tmp_path / "yagi.conf") in message and where in message
    assert "differs from [consumer:q1]" in message


def test_per_queue_settings_take_effect_per_queue(tmp_path: Path) -> None:
    text = TWO.replace(
        "exchange = nova\n",
        "exchange = nova\nmax_messages = 7\nmax_wait = 2\nprefetch = 40\n"
        "exchange_durable = false\n",
    ).replace(
        "exchange = glance\n",
        "exchange = glance\nmax_messages = 3\nmax_wait = 2\nprefetch = 40\n",
    )
    q1, q2 = yagi_config.load([write(tmp_path, text)]).consumers
    assert (q1.max_messages, q2.max_messages) == (7, 3)
    assert q1.max_wait == q2.max_wait == 2 and q1.prefetch == q2.prefetch == 40
    assert q1.exchange_durable is False and q2.exchange_durable is None


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ("exchange_auto_delete = true\n", "[consumer:q1] exchange_auto_delete"),
        ("filters = compute.*\n", "[consumer:q1] filters"),
        ("[shoebox]\nroll_checker = x:Y\n", "[shoebox] roll_checker"),
        ("[shoebox:q1]\nwrap_payload_with_region = true\n", "wrap_payload_with_region"),
        ("[shoebox]\nwrap_region = r1\n", "[shoebox] wrap_region"),
    ],
)
def test_original_keys_that_cannot_be_honoured_are_refused(
    tmp_path: Path, extra: str, where: str
) -> None:
    with pytest.raises(ConfigError, match=r"not (supported|used here)") as caught:
        yagi_config.load([write(tmp_path, BASE + extra)])
    assert where in str(caught.value)


def test_original_keys_that_are_off_are_accepted(tmp_path: Path) -> None:
    text = BASE + "exchange_auto_delete = false\n[shoebox]\n"
    text += "wrap_payload_with_region = False\n"
    assert yagi_config.load([write(tmp_path, text)]).consumers
