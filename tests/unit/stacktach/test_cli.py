"""stacktach.cli: the exit status and message of each kind of error."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from stacktach.cli import Command, Group, describe
from stacktach.exceptions import ConfigError, PermanentError, RecoverableError


@pytest.mark.parametrize(
    ("error", "status", "words"),
    [
        (ConfigError("bad", source="f.yaml", key="k"), 2, "f.yaml: k: bad"),
        (RecoverableError("away"), 1, "away"),
        (PermanentError("broken"), 1, "broken"),
        (FileNotFoundError(2, "No such file or directory", "/x"), 1, "/x: No such"),
        (KeyError("boom"), 1, "internal error: KeyError"),
    ],
)
def test_describe(error: Exception, status: int, words: str) -> None:
    message, code = describe(error)
    assert code == status
    assert words in message


def _failing(error: BaseException) -> click.Command:
    @click.command(cls=Command)
    def main() -> None:
        raise error

    return main


def test_one_line_and_the_status() -> None:
    result = CliRunner().invoke(_failing(ConfigError("nope", key="x")), [])
    assert result.exit_code == 2
    assert result.output.strip() == "main: x: nope"


def test_debug_prints_the_traceback() -> None:
    result = CliRunner().invoke(_failing(RecoverableError("away")), ["--debug"])
    assert result.exit_code == 1
    assert "Traceback" in result.output


def test_usage_errors_are_one_line() -> None:
    result = CliRunner().invoke(_failing(RecoverableError("x")), ["--nope"])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("main: No such option")
    assert line.endswith("(try 'main --help')")


def test_groups_report_their_subcommands_errors() -> None:
    @click.group(cls=Group)
    def tool() -> None:
        pass

    @tool.command()
    def sub() -> None:
        raise OSError(28, "No space left on device", "/archive/x")

    result = CliRunner().invoke(tool, ["sub", "--debug"])
    assert result.exit_code == 1
    assert "Traceback" in result.output
    assert result.output.strip().splitlines()[-1] == (
        "tool: /archive/x: No space left on device"
    )
