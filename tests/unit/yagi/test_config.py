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
