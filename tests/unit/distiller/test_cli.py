"""The distiller command, run as a real process."""

import json
import subprocess
import sys
from pathlib import Path

from stacktach.jsonutil import loads as typed_loads

DEFS_OK = """
- event_type: compute.instance.*
  traits:
    memory_mb: {type: int, fields: payload.memory_mb}
    when: {type: datetime, fields: payload.launched_at}
"""


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "distiller.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def notification(n: int, **extra: object) -> str:
    body = {
        "event_type": "compute.instance.create.end",
        "message_id": f"m-{n}",
        "timestamp": "2014-05-01 00:45:00",
        "publisher_id": "compute.h1",
        "payload": {"memory_mb": 512, "launched_at": "2014-05-01T00:40:00"},
    }
    body.update(extra)
    return json.dumps(body)


def test_events_on_stdout_summary_on_stderr(tmp_path: Path) -> None:
    defs = tmp_path / "defs.yaml"
    defs.write_text(DEFS_OK)
    data = tmp_path / "in.jsonl"
    lines = [
        notification(1),
        "",
        notification(2, event_type="image.upload"),
        json.dumps({"oslo.version": "2.0", "oslo.message": notification(3)}),
    ]
    data.write_text("\n".join(lines) + "\n")
    result = run("-d", str(defs), str(data))
    assert result.returncode == 0, result.stderr
    events = [typed_loads(line) for line in result.stdout.splitlines()]
    assert [e["message_id"] for e in events] == ["m-1", "m-3"]
    first = json.loads(result.stdout.splitlines()[0])
    assert first["memory_mb"] == 512
    assert first["timestamp"] == {
        "__type__": "datetime",
        "datetime": "2014-05-01T00:45:00.000000+00:00",
    }
    assert first["service"] == "compute.h1"
    assert "read 3, distilled 2, unmatched 1, rejected 0" in result.stderr


def test_rejects_and_trait_problems_named_by_line_exit_1(tmp_path: Path) -> None:
    defs = tmp_path / "defs.yaml"
    defs.write_text(DEFS_OK)
    bad_trait = json.loads(notification(2))
    bad_trait["payload"]["memory_mb"] = "lots"
    stdin = "\n".join(
        ["not json", notification(1, timestamp=None), json.dumps(bad_trait)]
    )
    result = run("-d", str(defs), stdin=stdin)
    assert result.returncode == 1
    assert "<stdin>:1: rejected: not valid JSON" in result.stderr
    assert "<stdin>:2: rejected: no usable time" in result.stderr
    assert (
        "<stdin>:3: compute.instance.create.end m-2: trait memory_mb dropped"
        in result.stderr
    )
    assert "rejected 2, trait problems 1" in result.stderr
    assert len(result.stdout.splitlines()) == 1
    quiet = run("-q", "-d", str(defs), stdin=stdin)
    assert "rejected:" not in quiet.stderr and "rejected 2" in quiet.stderr


def test_catchall_and_ceilometer_flags(tmp_path: Path) -> None:
    defs = tmp_path / "defs.yaml"
    defs.write_text("- event_type: nothing.matches\n  traits: {}\n")
    stdin = notification(1, _context_user_id="u-1")
    plain = run("-d", str(defs), stdin=stdin)
    assert plain.stdout == ""
    both = run("-d", str(defs), "--catchall", "--ceilometer", stdin=stdin)
    event = json.loads(both.stdout)
    assert event["user_id"] == "u-1"  # a Ceilometer default trait


def test_plugin_option(tmp_path: Path) -> None:
    defs = tmp_path / "defs.yaml"
    defs.write_text(
        "- event_type: '*'\n"
        "  traits:\n"
        "    host:\n"
        "      fields: publisher_id\n"
        "      plugin: {name: hostpart, parameters: {segment: 1}}\n"
    )
    result = run(
        "-d",
        str(defs),
        "--plugin",
        "hostpart=distiller.plugins.split:SplitPlugin",
        stdin=notification(1),
    )
    assert json.loads(result.stdout)["host"] == "h1"
    bad = run("-d", str(defs), "--plugin", "hostpart", stdin="")
    assert bad.returncode == 2
    assert "--plugin" in bad.stderr and "NAME=package.module:Class" in bad.stderr


def test_bad_definitions_exit_2_naming_the_file(tmp_path: Path) -> None:
    defs = tmp_path / "defs.yaml"
    defs.write_text("- event_type: a\n  traits:\n    x: {fields: y, type: integer}\n")
    result = run("-d", str(defs), stdin="")
    assert result.returncode == 2
    assert f"{defs}:3:" in result.stderr and "unknown type 'integer'" in result.stderr


def test_check_only_validates(corpus_config: Path) -> None:
    result = run(
        "--check", "-d", str(corpus_config / "ceilometer_event_definitions.yaml")
    )
    assert result.returncode == 0
    assert "definitions OK" in result.stderr


def test_missing_input_file_is_a_usage_error(tmp_path: Path) -> None:
    defs = tmp_path / "defs.yaml"
    defs.write_text(DEFS_OK)
    result = run("-d", str(defs), str(tmp_path / "absent.jsonl"))
    assert result.returncode == 2
    assert "absent.jsonl" in result.stderr


def test_help_describes_every_option() -> None:
    result = run("--help")
    assert result.returncode == 0
    for option in (
        "--definitions",
        "--catchall",
        "--ceilometer",
        "--plugin",
        "--check",
        "--quiet",
    ):
        assert option in result.stdout
