"""check-config warns when a handler's worst case exceeds lease_seconds.

Run through the real ``check-config`` command (a subprocess).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from winchester.config.pipelines import HandlerSpec
from winchester.handlers.atompub import AtomPubHandler
from winchester.handlers.logger import LoggingHandler
from winchester.pipeline import build_pipelines

ROOT = Path(__file__).resolve().parents[4]


def write_set(tmp_path: Path, lease: float, atompub_params: str) -> Path:
    (tmp_path / "triggers.yaml").write_text(
        "- name: usage\n"
        "  distinguished_by: [instance_id]\n"
        "  expiration: $last + 1d\n"
        "  fire_pipeline: post\n"
        "  match_criteria: [{event_type: 'compute.*'}]\n"
        "  fire_criteria: [{event_type: compute.instance.exists}]\n"
    )
    (tmp_path / "pipelines.yaml").write_text(
        "post:\n"
        "  - logger\n"
        "  - name: atompub\n"
        f"    params: {{url: 'http://feed.example/atom', {atompub_params}}}\n"
    )
    config = tmp_path / "winchester.yaml"
    config.write_text(
        "database: {url: 'sqlite:///w.db'}\n"
        "trigger_definitions: triggers.yaml\n"
        "pipeline_config: pipelines.yaml\n"
        f"lease_seconds: {lease}\n"
    )
    return config


def check_config(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "winchester.config.cli", *args],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_lease_shorter_than_atompubs_retries_is_a_warning(tmp_path: Path) -> None:
    config = write_set(tmp_path, 300, "max_attempts: 5")
    done = check_config("-c", str(config))
    assert done.returncode == 0, done.stderr  # a warning, not an error
    pipelines = tmp_path / "pipelines.yaml"
    [line] = [x for x in done.stderr.splitlines() if "lease_seconds" in x]
    assert line.startswith(f"{pipelines}:3: post.atompub: warning: handler 'atompub'")
    assert "up to 1050 s" in line and "lease_seconds (300 s" in line
    assert "raise lease_seconds to at least 1050" in line
    assert "Traceback" not in done.stderr
    assert check_config("-c", str(config), "--strict").returncode == 1


def test_no_warning_when_the_lease_covers_the_worst_case(tmp_path: Path) -> None:
    params = "max_attempts: 2, http_timeout: 10, wait_interval: 5"
    config = write_set(tmp_path, 30, params)  # 2 * 10 + 5 = 25 s
    done = check_config("-c", str(config), "--strict")
    assert done.returncode == 0, done.stderr
    assert "lease_seconds" not in done.stderr


def test_a_bad_retry_parameter_is_an_error(tmp_path: Path) -> None:
    config = write_set(tmp_path, 300, "wait_interval: soon")
    done = check_config("-c", str(config))
    assert done.returncode == 1
    assert "wait_interval" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("params", "seconds"),
    [
        ({}, 5 * 120 + 30 + 60 + 120 + 240),
        ({"max_attempts": 1}, 120),
        ({"max_attempts": 3, "http_timeout": 10, "wait_interval": 1}, 30 + 1 + 2),
        ({"max_attempts": 4, "wait_interval": 100, "max_wait": 150}, 480 + 100 + 300),
        ({"max_attempts": 2, "auth_server": "http://id/v2.0/tokens"}, 480 + 30),
    ],
)
def test_atompub_worst_case(params: dict[str, object], seconds: float) -> None:
    assert AtomPubHandler.worst_case_seconds(params) == seconds


def test_other_handlers_are_quick() -> None:
    assert LoggingHandler.worst_case_seconds({}) == 0


def test_the_worker_warns_at_start_too(caplog: pytest.LogCaptureFixture) -> None:
    specs = {"post": [HandlerSpec("atompub", {"url": "http://feed.example/atom"})]}
    with caplog.at_level(logging.WARNING, logger="winchester.pipeline"):
        build_pipelines(specs, lambda _name: AtomPubHandler, lease_seconds=300)
        build_pipelines(specs, lambda _name: AtomPubHandler, lease_seconds=2000)
    [record] = caplog.records
    assert record.getMessage() == (
        "pipeline post: handler atompub can take up to 1050 s per run, longer "
        "than lease_seconds (300 s); leases are renewed meanwhile, but raise "
        "lease_seconds to at least 1050"
    )
