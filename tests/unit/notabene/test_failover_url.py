"""Failover lists of broker URLs: every node kept, options shared, strategy checked."""

from __future__ import annotations

import pytest

import notabene
from stacktach.exceptions import ConfigError

NODES = "amqp://u:p@h1:5672//;amqp://u:p@h2:5672//;amqp://u:p@h3:5672//"


def test_every_node_of_a_failover_list_is_tried_in_turn() -> None:
    conn = notabene.connect(NODES)
    assert [alt.split("@")[1] for alt in conn.alt] == [
        "h1:5672//",
        "h2:5672//",
        "h3:5672//",
    ]
    assert conn.failover_strategy is not None
    hosts = []
    for _ in range(4):
        hosts.append(conn.hostname)
        conn.maybe_switch_next()
    assert hosts == ["h1", "h2", "h3", "h1"]  # round-robin by default


def test_options_on_any_url_of_the_list_apply_to_the_whole_list() -> None:
    conn = notabene.connect(
        "amqp://u:p@h1//?heartbeat=15;amqp://u:p@h2//?failover_strategy=shuffle"
    )
    assert conn.heartbeat == 15
    assert [alt.split("@")[1] for alt in conn.alt] == ["h1//", "h2//"]
    seen = set()
    for _ in range(50):
        seen.add(conn.hostname)
        conn.maybe_switch_next()
    assert seen == {"h1", "h2"}


def test_an_unknown_failover_strategy_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="failover_strategy='random'"):
        notabene.connect(NODES + "?failover_strategy=random")


def test_a_bad_scheme_anywhere_in_the_list_is_named() -> None:
    with pytest.raises(ConfigError, match="amqq"):
        notabene.connect("amqp://h1//;amqq://h2//")
