"""check-config: the sample sets pass, broken sets fail with file:line: key: message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from winchester.config import check_config
from winchester.config.cli import main

Write = Callable[[str, str], Path]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("folder", "summary"),
    [
        ("", "1 triggers, 2 pipelines, 6 event definitions, 3 handlers"),
        ("winchester-etc", "1 triggers, 2 pipelines, 2 event definitions, 1 handlers"),
    ],
)
def test_the_sample_sets_pass(corpus_config: Path, folder: str, summary: str) -> None:
    config = corpus_config / folder / "winchester.yaml"
    code, out, err = run("-c", str(config))
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith(f"{config}: {summary}")
    assert ": OK" in first
    assert (
        "database: mysql://winchester:***@localhost/winchester (not connected)" in out
    )
    assert "handler logger: winchester.handlers.logger:LoggingHandler" in out
    assert "testpasswd" not in out + err
    for line in err.splitlines():
        assert ": warning: " in line
    assert f"{config}:3: config_path: warning: folder" in err


def test_the_etc_misspelling_is_reported(corpus_config: Path) -> None:
    config = corpus_config / "winchester-etc" / "winchester.yaml"
    code, _out, err = run("-c", str(config))
    assert code == 0
    triggers = corpus_config / "winchester-etc" / "triggers.yaml"
    assert (
        f"{triggers}:20: test_trigger.match_criteria[1].map_distingushed_by: "
        "warning: misspelling of 'map_distinguished_by'"
    ) in err
    assert run("-c", str(config), "--strict")[0] == 1
    assert run("-c", str(config), "--quiet")[2] == ""


BROKEN_YAML = """
database: {url: "sqlite:///w.db"}
distiller_config: event_definitions.yaml
trigger_definitions: triggers.yaml
pipeline_config: pipelines.yaml
pipeline_handlers:
  mine: no.such.module:Handler
  ok: distiller.plugins.split:SplitPlugin
"""
BROKEN_TRIGGERS = """
- name: t
  expiration: $last + 1h
  fire_pipeline: fier
  match_criteria: [{event_type: "compute.*"}]
  fire_criteria: [{event_type: "compute.instance.exists"}]
"""
BROKEN_PIPELINES = """
fire: [logger, mine, ok]
"""


def test_a_broken_set_fails_with_every_error(write: Write, tmp_path: Path) -> None:
    config = write("winchester.yaml", BROKEN_YAML)
    triggers = write("triggers.yaml", BROKEN_TRIGGERS)
    write("pipelines.yaml", BROKEN_PIPELINES)
    code, out, err = run("-c", str(config))
    assert code == 1
    lines = err.splitlines()
    assert lines == [
        f"{config}:2: distiller_config: file 'event_definitions.yaml' not found; "
        f"looked for {tmp_path}/event_definitions.yaml",
        f"{triggers}:3: t.fire_pipeline: no pipeline 'fier' in "
        f"{tmp_path}/pipelines.yaml; did you mean 'fire'?",
        f"{config}:6: pipeline_handlers.mine: pipeline handler "
        "'no.such.module:Handler': cannot import 'no.such.module': "
        "No module named 'no'",
    ]
    assert out.startswith(
        f"{config}: 1 triggers, 1 pipelines, 0 event definitions, 3 handlers"
    )
    assert ": 3 error(s)" in out.splitlines()[0]


SQLITE = "database: {url: 'sqlite://'}\n"
TRIGGER = "- name: t\n  expiration: $last\n  fire_pipeline: p\n  fire_criteria: [{}]\n"
NUMERIC = "  match_criteria: [{traits: {m: {numeric: '> 1'}}}]\n"


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"winchester.yaml": "database: {url: x}\nstatistics_period: 0\n"},
            "winchester.yaml:1: database.url: not an SQLAlchemy URL",
        ),
        (
            {"winchester.yaml": "databse: {}\n"},
            "winchester.yaml:1: databse: unknown key in winchester.yaml; "
            "did you mean 'database'?",
        ),
        (
            {
                "winchester.yaml": SQLITE + "trigger_definitions: t.yaml\n",
                "t.yaml": TRIGGER + NUMERIC,
            },
            "t.yaml:5: t.match_criteria[0].traits.m.numeric: "
            "unknown condition type 'numeric'",
        ),
        (
            {
                "winchester.yaml": SQLITE + "pipeline_config: p.yaml\n",
                "p.yaml": "p: [loger]\n",
            },
            "p.yaml:1: p[0]: unknown handler 'loger'; did you mean 'logger'?",
        ),
        (
            {
                "winchester.yaml": SQLITE + "trigger_definitions: t.yaml\n",
                "t.yaml": TRIGGER + "  match_criteria: [{}]\n",
            },
            "t.yaml:3: t.fire_pipeline: no pipeline 'p' in pipeline_config (not set)",
        ),
    ],
)
def test_each_kind_of_error(
    write: Write, tmp_path: Path, files: dict[str, str], expected: str
) -> None:
    for name, text in files.items():
        write(name, text)
    code, _out, err = run("-c", str(tmp_path / "winchester.yaml"))
    assert code == 1
    assert f"{tmp_path}/{expected}" in err


def test_logging_config_is_checked_when_found(write: Write) -> None:
    config = write(
        "winchester.yaml", "database: {url: 'sqlite://'}\nlogging_config: l.conf\n"
    )
    write("l.conf", "[loggers]\nkeys=root\n")
    result = check_config(config)
    assert [str(e) for e in result.errors] == [
        f"{config}:2: logging_config: {config.parent}/l.conf: not a "
        "logging.config.fileConfig file (no [handlers], [formatters] section)"
    ]
    write("l.conf", "[loggers]\n[handlers]\n[formatters]\n")
    (error,) = check_config(config).errors  # fileConfig needs keys and root
    assert "[loggers] keys must include root" in str(error)
    write(
        "l.conf",
        "[loggers]\nkeys=root\n[handlers]\nkeys=\n[formatters]\nkeys=\n"
        "[logger_root]\nlevel=INFO\nhandlers=\n",
    )
    assert check_config(config).ok


def test_a_missing_config_file(tmp_path: Path) -> None:
    code, out, err = run("-c", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert err == f"{tmp_path}/nope.yaml: file not found\n"
    assert "1 error(s)" in out


def test_help() -> None:
    code, out, _err = run("--help")
    assert code == 0 and "-c, --config" in out
