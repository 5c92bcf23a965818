from typing import Any

import pytest

from distiller.jsonpath import JSONPathError, compile_path, compile_union

DOC: dict[str, Any] = {
    "publisher_id": "compute.host-1.example.com",
    "event_type": "compute.instance.exists",
    "payload": {
        "tenant_id": "t1",
        "memory_mb": 512,
        "deleted_at": None,
        "image_meta": {"org.openstack__1__os_distro": "org.debian", "base": "img-1"},
        "glance_metadata": [
            {"key": "image_id", "value": "img-42"},
            {"key": "size", "value": 20},
        ],
        "volume_attachment": [{"server_id": "srv-1"}, {"server_id": "srv-2"}],
        "fixed_ips": [{"address": "10.0.0.1"}, {"address": "10.0.0.2"}],
        "bandwidth": {"public": {"bw_in": 1, "bw_out": 2}},
        "flag": False,
        "weird-key": "w",
    },
}

FIRST = [
    ("publisher_id", "compute.host-1.example.com"),
    ("$.payload.tenant_id", "t1"),
    ("payload.memory_mb", 512),
    ("payload.bandwidth.public.bw_out", 2),  # four plain keys
    ("payload['tenant_id']", "t1"),
    ("payload.image_meta.'org.openstack__1__os_distro'", "org.debian"),
    ('payload.image_meta."org.openstack__1__os_distro"', "org.debian"),
    ("payload.volume_attachment[0].server_id", "srv-1"),
    ("payload.volume_attachment[-1].server_id", "srv-2"),
    ("payload.volume_attachment[*].server_id", "srv-1"),
    ("payload.fixed_ips[1:].address", "10.0.0.2"),
    ("payload.glance_metadata[?key=image_id].value", "img-42"),
    ("payload.glance_metadata[?(@.key == 'size')].value", 20),
    ("payload.glance_metadata[?value > 10].key", "size"),
    ("payload.glance_metadata[?key != image_id & value].key", "size"),
    ("payload.glance_metadata[?key =~ '^im'].value", "img-42"),
    ("publisher_id.`split(., 1, 1)`", "host-1.example.com"),
    ("publisher_id.`split(., 0, -1)`", "compute"),
    ("publisher_id.`split(-, 1, -1)`", "1.example.com"),
    ("publisher_id.`sub(/\\.example\\.com$/, )`", "compute.host-1"),
    ("payload.glance_metadata.`len`", 2),
    ("payload..bw_in", 1),
    ("payload.flag", False),  # false is a value, not a miss
    ("payload.weird-key", "w"),
    ("(payload.deleted_at)|(payload.tenant_id)", "t1"),  # null skipped
    ("payload.missing|payload.memory_mb", 512),
]

MISSES = [
    "payload.nope",
    "payload.deleted_at",  # null counts as absent
    "payload.memory_mb.deeper",  # through a number
    "payload.fixed_ips.address",  # a key on a list matches nothing
    "payload.volume_attachment[5].server_id",
    "payload.glance_metadata[?key=nothing].value",
    "payload.memory_mb.`split(., 1, 1)`",  # split of a non-string
    "event_type.`split(., 9, -1)`",  # segment past the end
    "nope.a.b.c.d",
]


@pytest.mark.parametrize(("expr", "expected"), FIRST)
def test_first_match(expr: str, expected: Any) -> None:
    assert compile_path(expr).first(DOC) == expected


@pytest.mark.parametrize("expr", MISSES)
def test_no_match_is_none(expr: str) -> None:
    assert compile_path(expr).first(DOC) is None
    assert compile_path(expr).matches(DOC) == []


def test_matches_carry_paths_in_order() -> None:
    path = compile_union(["payload.tenant_id", "payload.image_meta.*", "payload.nope"])
    assert path.matches(DOC) == [
        ("payload.tenant_id", "t1"),
        ("payload.image_meta.org.openstack__1__os_distro", "org.debian"),
        ("payload.image_meta.base", "img-1"),
    ]


def test_list_items_paths_and_recursive_descent() -> None:
    assert compile_path("payload.fixed_ips[*].address").matches(DOC) == [
        ("payload.fixed_ips.[0].address", "10.0.0.1"),
        ("payload.fixed_ips.[1].address", "10.0.0.2"),
    ]
    assert [v for _, v in compile_path("payload..server_id").matches(DOC)] == [
        "srv-1",
        "srv-2",
    ]


def test_union_is_ordered_first_non_null_wins() -> None:
    path = compile_union(["payload.deleted_at", "payload.nope", "payload.memory_mb"])
    assert path.first(DOC) == 512


def test_root_that_is_not_an_object() -> None:
    assert compile_path("a.b").first(["not", "a", "dict"]) is None
    assert compile_path("a").first("text") is None


def test_rewrite_maps_the_head_of_each_alternative() -> None:
    def rewrite(head: str) -> str:
        return "_context_" + head.split(".")[1] if head.startswith("ctxt.") else head

    path = compile_union(["payload.user_id", "ctxt.user_id"], rewrite=rewrite)
    assert path.first({"_context_user_id": "u9"}) == "u9"
    assert path.first({"payload": {"user_id": "u1"}, "_context_user_id": "u9"}) == "u1"


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("", "non-empty string"),
        ("payload.", "expected a key"),
        ("payload.[", "unterminated '['"),
        ("payload['x", "unterminated '['"),
        ("payload.'x", "unterminated quoted key"),
        ("payload.x`split(., 1, 1)", "unterminated '`'"),
        ("payload.`frobnicate`", "unknown extension `frobnicate`"),
        ("(payload.x", "expected ')'"),
        ("payload.x)", "unexpected ')'"),
        ("payload[?key=x", "unterminated filter"),
        ("payload[?]", "empty filter condition"),
        ("payload[a b]", "cannot read [a b]"),
        ("payload..`len`", "'..' must be followed by a key"),
    ],
)
def test_syntax_errors_name_expression_and_position(expr: str, fragment: str) -> None:
    with pytest.raises(JSONPathError) as info:
        compile_path(expr)
    assert fragment in str(info.value)
    if expr:
        assert repr(expr) in str(info.value)
