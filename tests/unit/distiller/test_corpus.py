"""Every notification of the shared corpus through every sample definitions file.

Nothing may raise anything but NotificationRejected, and the rejects must be
exactly the notifications that deserve it (listed below with the reason, checked
by reading ceilometer-fixtures.jsonl).
"""

import contextlib
from pathlib import Path

import pytest

from distiller import Distiller, NotificationRejected
from tests.conftest import corpus_files

# (file, 1-based line) -> what the rejection must say. Only the neutron bulk
# fixtures, whose timestamp AND _context_timestamp are both space-mangled. (Lines
# 35, 36, 69 and 70 have no top-level time either, but they are in the listener
# shape - ctxt + metadata - and their metadata.timestamp is fine.)
EXPECTED_REJECTS = {
    ("ceilometer-fixtures.jsonl", 38): "'2014-05-1510: 24: 56.335612'",
    ("ceilometer-fixtures.jsonl", 40): "'2014-05-1510: 47: 08.133888'",
    ("ceilometer-fixtures.jsonl", 43): "'2014-05-3107: 19: 43.463101'",
}

# Trait values that do not convert (the trait is dropped, the event kept):
# line 61 is an objectstore.http.request whose payload.eventTime is
# '2015-01-30T16: 38: 43.233621' - mangled like the neutron timestamps. Only
# Ceilometer's definitions read eventTime.
EXPECTED_TRAIT_PROBLEMS = {
    "event_definitions.yaml": set(),
    "winchester-etc/event_definitions.yaml": set(),
    "stackdistiller-etc/event_definitions.yaml": set(),
    "ceilometer_event_definitions.yaml": {
        ("ceilometer-fixtures.jsonl", 61, "eventTime")
    },
}


@pytest.mark.parametrize(
    "ceilometer", [False, True], ids=["stackdistiller", "ceilometer"]
)
@pytest.mark.parametrize("definitions", sorted(EXPECTED_TRAIT_PROBLEMS))
def test_whole_corpus(corpus: Path, definitions: str, ceilometer: bool) -> None:
    problems: set[tuple[str, int, str]] = set()
    where: list[tuple[str, int]] = [("", 0)]

    def on_error(event_type: str, message_id: str, trait: str, reason: str) -> None:
        problems.add((*where[0], trait))

    distiller = Distiller.from_file(
        corpus / "config" / definitions, ceilometer=ceilometer, on_trait_error=on_error
    )
    rejects: dict[tuple[str, int], str] = {}
    events = 0
    for path in corpus_files(corpus):
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            where[0] = (path.name, number)
            try:
                event = distiller.distill_json(line)
            except NotificationRejected as exc:
                rejects[(path.name, number)] = str(exc)
                continue
            if event is not None:
                events += 1
                assert event.timestamp.tzinfo is not None
                assert event.message_id
    assert set(rejects) == set(EXPECTED_REJECTS)
    for key, fragment in EXPECTED_REJECTS.items():
        assert fragment in rejects[key], rejects[key]
    assert problems == EXPECTED_TRAIT_PROBLEMS[definitions]
    stats = distiller.stats
    assert stats.rejected == len(EXPECTED_REJECTS)
    assert stats.read == stats.distilled + stats.unmatched + stats.rejected
    assert stats.distilled == events > 200


def test_catchall_turns_every_good_notification_into_an_event(corpus: Path) -> None:
    distiller = Distiller.from_file(
        corpus / "config" / "event_definitions.yaml", catchall=True
    )
    for path in corpus_files(corpus):
        for line in path.read_bytes().splitlines():
            with contextlib.suppress(NotificationRejected):
                assert distiller.distill_json(line) is not None
    assert distiller.stats.unmatched == 0
    assert distiller.stats.rejected == len(EXPECTED_REJECTS)
