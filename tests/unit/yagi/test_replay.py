"""``yagi-replay``: back into a broker, or straight into winchester.

Also: shoebox stays a library of archives (it loads neither notabene nor
winchester), and ``shoebox replay`` points to ``yagi-replay``.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import notabene
import shoebox
from distiller import Distiller
from shoebox.cli import main as shoebox_main
from stacktach import jsonutil
from tests.unit.shoebox.conftest import BODIES
from winchester.clock import EventClock
from winchester.config.triggers import load_triggers
from winchester.ingest import TriggerManager
from winchester.storage import schema
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade
from winchester.timex import register_json
from yagi.replay import main


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    """(destination, working) folders, not created yet."""
    return tmp_path / "archive", tmp_path / "work" / "p1"


def archived(folders: tuple[Path, Path], bodies: list[bytes], per_file: int) -> Path:
    """Archive ``bodies`` into files of ``per_file`` records; return the folder."""
    with shoebox.Archive(*folders, roll_minutes=None) as archive:
        for start in range(0, len(bodies), per_file):
            archive.write(
                [(b, {"n": str(start)}) for b in bodies[start : start + per_file]]
            )
            archive.roll()
    return folders[0]


def test_replay_to_a_broker(folders: tuple[Path, Path]) -> None:
    name = f"t{uuid.uuid4().hex[:10]}"
    bodies = [b'{"message_id": "m-%d", "n": %d}' % (i, i) for i in range(30)]
    folder = archived(folders, bodies, 7)
    result = CliRunner().invoke(
        main,
        [
            str(folder),
            "--to",
            "memory://",
            "--exchange",
            name,
            "--routing-key",
            "monitor.info",
            "--queue",
            f"{name}.q",
            "--batch",
            "4",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "records: 30" in result.output and "published: 30" in result.output
    received = []
    with notabene.connect("memory://") as conn:
        channel = conn.channel()
        while (message := channel.basic_get(f"{name}.q", no_ack=True)) is not None:
            received.append(message.body)
    assert received == bodies


def test_replay_needs_exactly_one_target(folders: tuple[Path, Path]) -> None:
    folder = archived(folders, BODIES[:1], 1)
    result = CliRunner().invoke(main, [str(folder)])
    assert result.exit_code == 2
    assert "exactly one of --to URL and --winchester FILE" in result.output


def _streams(engine: sa.Engine) -> tuple[list[str], list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        messages = sorted(conn.execute(sa.select(schema.event.c.message_id)).scalars())
        streams = []
        for row in conn.execute(sa.select(schema.stream)).mappings():
            members = sorted(
                conn.execute(
                    sa.select(schema.event.c.message_id)
                    .join(
                        schema.stream_event,
                        schema.stream_event.c.event_id == schema.event.c.id,
                    )
                    .where(schema.stream_event.c.stream_id == row["id"])
                ).scalars()
            )
            key = jsonutil.loads(row["distinguishing_traits"])
            streams.append(
                (
                    row["trigger_name"],
                    repr(key),
                    tuple(members),
                    row["state"],
                    row["expire_timestamp"],
                )
            )
    return messages, sorted(streams)


def test_replay_into_winchester_matches_direct_ingest(
    folders: tuple[Path, Path], corpus: Path, corpus_config: Path, tmp_path: Path
) -> None:
    register_json()
    lines = [
        line
        for line in (corpus / "notigen-nova.jsonl").read_bytes().splitlines()
        if line.strip()
    ]
    folder = archived(folders, lines, 60)
    definitions = corpus_config / "event_definitions.yaml"
    triggers = corpus_config / "triggers.yaml"

    direct_url = f"sqlite:///{tmp_path / 'direct.db'}"
    direct = connect(direct_url)
    upgrade(direct)
    manager = TriggerManager(
        direct,
        load_triggers(triggers),
        EventClock(direct),
        distiller=Distiller.from_file(definitions),
    )
    # Same batches as the replay below (50 records, across file boundaries): the
    # event clock moves between batches, so batching decides when streams expire.
    for start in range(0, len(lines), 50):
        manager.add_notifications(lines[start : start + 50])

    replay_url = f"sqlite:///{tmp_path / 'replay.db'}"
    replayed = connect(replay_url)
    upgrade(replayed)
    settings = tmp_path / "winchester.yaml"
    settings.write_text(
        f"database:\n  url: {replay_url}\n"
        f"distiller_config: {definitions}\n"
        f"trigger_definitions: {triggers}\n"
    )
    result = CliRunner().invoke(
        main, [str(folder), "--winchester", str(settings), "--batch", "50"]
    )
    assert result.exit_code == 0, result.output
    assert f"records: {len(lines)}" in result.output

    direct_messages, direct_streams = _streams(direct)
    replay_messages, replay_streams = _streams(replayed)
    assert replay_messages == direct_messages
    assert len(direct_messages) > 100
    assert replay_streams == direct_streams
    assert direct_streams, "the sample triggers make streams of the notigen days"
    with replayed.connect() as conn:
        mark = conn.execute(sa.select(schema.clock.c.value)).scalar()
    assert mark is not None and mark.year < 2020  # event time, not the wall clock

    # Replaying again stores nothing twice.
    again = CliRunner().invoke(
        main, [str(folder), "--winchester", str(settings), "--quiet"]
    )
    assert again.exit_code == 0, again.output
    assert f"duplicates: {len(direct_messages)}" in again.output
    assert _streams(replayed) == (direct_messages, direct_streams)
    direct.dispose()
    replayed.dispose()


def test_replay_reports_a_bad_winchester_file(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    folder = archived(folders, BODIES[:1], 1)
    settings = tmp_path / "winchester.yaml"
    settings.write_text("database:\n  url: sqlite://\n")
    result = CliRunner().invoke(main, [str(folder), "--winchester", str(settings)])
    assert result.exit_code == 1
    assert "distiller_config: required to replay" in result.output


def test_shoebox_replay_says_to_use_yagi_replay(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        shoebox_main, ["replay", str(tmp_path), "--to", "memory://"]
    )
    assert result.exit_code == 2
    [line] = result.output.splitlines()
    assert "use yagi-replay ARCHIVE..." in line


def test_shoebox_loads_neither_notabene_nor_winchester() -> None:
    import pkgutil

    import shoebox as package

    modules = ["shoebox.cli"] + [
        info.name
        for info in pkgutil.walk_packages(package.__path__, "shoebox.")
        if info.name != "shoebox.__main__"
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('notabene', 'winchester', 'distiller', 'yagi', 'kombu', 'sqlalchemy'))\n"
        "print(','.join(bad))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "", done.stdout
    assert "shoebox.formats.json_format" in modules and "shoebox.cli" in modules


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
