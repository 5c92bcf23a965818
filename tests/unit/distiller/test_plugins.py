from typing import Any

import pytest

from distiller.plugins import BitfieldPlugin, MapPlugin, SplitPlugin, TimedeltaPlugin
from distiller.traitplugin import TraitPlugin, adapt


def test_split_defaults_to_the_first_segment() -> None:
    assert SplitPlugin().trait_value([("publisher_id", "compute.host1")]) == "compute"


def test_split_segment_and_max_split() -> None:
    plugin = SplitPlugin(segment=1, max_split=1)
    assert plugin.trait_value([("p", "compute.host.example.com")]) == "host.example.com"
    assert SplitPlugin(segment=2).trait_value([("p", "a.b.c.d")]) == "c"
    assert SplitPlugin(separator="-", segment=-1).trait_value([("p", "a-b-c")]) == "c"


def test_split_out_of_range_tries_the_next_match_then_gives_nothing() -> None:
    plugin = SplitPlugin(segment=1)
    assert plugin.trait_value([("a", "nodot"), ("b", "x.y")]) == "y"
    assert plugin.trait_value([("a", "nodot")]) is None
    assert plugin.trait_value([]) is None


def test_split_gives_the_same_pieces_when_a_value_comes_again() -> None:
    plugin = SplitPlugin(segment=-2)
    for _ in range(3):  # the second and third come from its memo
        assert plugin.trait_value([("p", "compute.host1.example")]) == "host1"
        assert plugin.trait_value([("p", "single")]) is None
        assert plugin.trait_value([("p", 12.5)]) == "12"
        assert plugin.trait_value([("p", "single"), ("q", "x.y")]) == "x"


@pytest.mark.parametrize(
    "kwargs",
    [{"separator": ""}, {"segment": "1"}, {"max_split": 1.5}, {"segment": True}],
)
def test_split_rejects_bad_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SplitPlugin(**kwargs)


def test_bitfield_presence_and_value() -> None:
    plugin = BitfieldPlugin(
        initial_bitfield=0b1000,
        flags=[
            {"path": "payload.a", "bit": 0},
            {"path": "payload.b", "bit": 1, "value": "yes"},
            {"path": "payload.c", "bit": 2},
        ],
    )
    assert plugin.trait_value([("payload.a", 1), ("payload.b", "yes")]) == 0b1011
    assert plugin.trait_value([("payload.b", "no")]) == 0b1000
    assert plugin.trait_value([]) == 0b1000


@pytest.mark.parametrize(
    "flags",
    [
        [{"path": "a"}],
        [{"bit": 1}],
        [{"path": "a", "bit": 99}],
        [{"path": "a", "bit": 1, "x": 2}],
    ],
)
def test_bitfield_rejects_bad_flags(flags: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match=r"flags\[0\]"):
        BitfieldPlugin(flags=flags)


def test_timedelta_seconds_between_two_timestamps() -> None:
    plugin = TimedeltaPlugin()
    matches = [
        ("created_at", "2014-05-01 00:00:00"),
        ("launched_at", "2014-05-01T00:01:30Z"),
    ]
    assert plugin.trait_value(matches) == 90.0
    assert plugin.trait_value(list(reversed(matches))) == 90.0
    assert plugin.trait_value(matches[:1]) is None
    assert plugin.trait_value([("a", "nope"), ("b", "2014-05-01")]) is None


def test_map_translates_with_default_and_case_folding() -> None:
    plugin = MapPlugin(values={1: "running", 4: "shutdown"}, default="unknown")
    assert plugin.trait_value([("p", 1)]) == "running"
    assert plugin.trait_value([("p", 7)]) == "unknown"
    assert plugin.trait_value([("p", [1])]) == "unknown"  # unhashable
    assert plugin.trait_value([]) is None
    folded = MapPlugin(values={"Active": "up"}, case_sensitive=False)
    assert folded.trait_value([("p", "ACTIVE")]) == "up"
    assert folded.trait_value([("p", "deleted")]) is None  # no default: no trait


def test_map_requires_values() -> None:
    with pytest.raises(ValueError, match="values"):
        MapPlugin()


class Ours(TraitPlugin):
    def trait_value(self, match_list: list[tuple[str, Any]]) -> Any:
        return len(match_list)


class StackdistillerStyle:
    def trait_value(self, match_list: list[tuple[str, Any]]) -> Any:
        return "old"


class TraitPluginBase:  # named like Ceilometer's base class
    def trait_values(self, match_list: list[tuple[str, Any]]) -> list[Any]:
        return [self.trait_value(match_list)]  # type: ignore[attr-defined]


class CeilometerOldStyle(TraitPluginBase):
    def trait_value(self, match_list: list[tuple[str, Any]]) -> Any:
        return "via trait_value"


class CeilometerNewStyle(TraitPluginBase):
    def trait_values(self, match_list: list[tuple[str, Any]]) -> list[Any]:
        return [None, "second"]


def test_adapt_every_plugin_style() -> None:
    assert adapt(Ours())([("a", 1), ("b", 2)]) == 2
    assert adapt(StackdistillerStyle())([]) == "old"
    assert adapt(CeilometerOldStyle())([]) == "via trait_value"
    assert adapt(CeilometerNewStyle())([]) == "second"
    with pytest.raises(TypeError, match="is not a trait plugin"):
        adapt(object())
