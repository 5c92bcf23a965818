"""The ``notigen`` command, through click's test runner."""

from __future__ import annotations

from pathlib import Path

import kombu
import orjson
import pytest
from click.testing import CliRunner

from notigen.cli import main


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_count_writes_that_many_lines_to_stdout(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--count", "250", "--seed", "4"])
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.splitlines()
    assert len(lines) == 250
    assert all("event_type" in orjson.loads(line) for line in lines)
    assert "250 notifications" in result.stderr
    assert "compute.instance.update" in result.stderr  # counts by event type


def test_out_writes_a_file_identical_to_stdout(
    runner: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "traffic.jsonl"
    result = runner.invoke(main, ["--count", "300", "--out", str(target), "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    stdout = runner.invoke(main, ["--count", "300", "-q"]).stdout_bytes
    assert target.read_bytes() == stdout


def test_duration_bounds_the_simulation(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["--duration", "2h", "--ops-per-hour", "30", "--instances", "5", "-q"]
    )
    assert result.exit_code == 0, result.output
    stamps = [orjson.loads(x)["timestamp"] for x in result.stdout_bytes.splitlines()]
    assert stamps == sorted(stamps)
    assert stamps[0] >= "2024-01-01 00:00:00"
    assert stamps[-1] < "2024-01-01 03:00:00"  # 2 h of starts plus their ends


def test_start_sets_the_clock(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["--start", "2015-06-01T12:00:00", "--count", "5", "-q"]
    )
    assert result.exit_code == 0, result.output
    first = orjson.loads(result.stdout_bytes.splitlines()[0])
    assert first["timestamp"].startswith("2015-06-01 12:")


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--duration", "1x"], "--duration"),
        (["--duration", "0s"], "--duration"),
        (["--start", "yesterday"], "--start"),
        (["--ops-per-hour", "-1"], "--ops-per-hour"),
        (["--duplicates", "1.5"], "--duplicates"),
        (["--count", "ten"], "--count"),
        (["--to", "memory://", "--out", "x.jsonl"], "--out"),
        (["--exchange", "nova"], "--exchange"),
        (["--speed", "10"], "--speed"),
        (["--duplicates", "0.6", "--malformed", "0.5"], "--duplicates"),
    ],
)
def test_bad_input_exits_2_naming_the_option(
    runner: CliRunner, arguments: list[str], option: str
) -> None:
    result = runner.invoke(main, arguments)
    assert result.exit_code == 2
    assert option in result.stderr


def test_help_documents_every_option(runner: CliRunner) -> None:
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for param in main.params:
        if param.name != "help":
            assert getattr(param, "help", None), param.name


def test_shapes_and_fault_log(runner: CliRunner, tmp_path: Path) -> None:
    log = tmp_path / "faults.jsonl"
    result = runner.invoke(
        main,
        [
            "--count",
            "2000",
            "--envelope",
            "--versioned",
            "--malformed",
            "0.05",
            "--fault-log",
            str(log),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout_bytes.splitlines()
    entries = [orjson.loads(row) for row in log.read_bytes().splitlines()]
    assert entries and all(e["fault"] == "malformed" for e in entries)
    for entry in entries:
        if entry["kind"] == "no_event_type":
            outer = orjson.loads(lines[entry["line"] - 1])
            inner = orjson.loads(outer["oslo.message"])
            assert "event_type" not in inner
    good = orjson.loads(
        lines[
            next(
                i
                for i in range(len(lines))
                if i + 1 not in {e["line"] for e in entries}
            )
        ]
    )
    assert "nova_object.name" in orjson.loads(good["oslo.message"])["payload"]
    assert "malformed:" in result.stderr


def test_publishes_through_notabene(runner: CliRunner) -> None:
    result = runner.invoke(
        main,
        [
            "--to",
            "memory://",
            "--count",
            "120",
            "--declare-queue",
            "notigen.cli.test",
            "--batch-size",
            "50",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    received = []
    with kombu.Connection("memory://") as connection:
        queue = kombu.Queue("notigen.cli.test", no_declare=True)(connection.channel())
        while (message := queue.get(no_ack=True)) is not None:
            received.append(orjson.loads(message.body))
    assert len(received) == 120
    direct = runner.invoke(main, ["--count", "120", "-q"]).stdout_bytes.splitlines()
    assert received == [orjson.loads(line) for line in direct]
