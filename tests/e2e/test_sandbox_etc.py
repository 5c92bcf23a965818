"""Every sample configuration in ``etc/`` passes our own checks.

``check-config`` on each winchester.yaml (with the files it names), ``yagi-event
--check`` on each yagi.conf, gunicorn's own ``--check-config`` on the gunicorn
config; the production samples also once rendered by the sandbox
(:func:`sandbox.layout.render`), as ``./build.sh --production`` writes them.
The files the sets share must not drift apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.layout import Layout, Options, render

ROOT = Path(__file__).resolve().parents[2]
ETC = ROOT / "etc"
BIN = Path(sys.prefix) / "bin"


def _run(*argv: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("folder", ["sandbox", "production"])
def test_winchester_yaml_passes_check_config(folder: str) -> None:
    done = _run("check-config", "--strict", "-c", str(ETC / folder / "winchester.yaml"))
    assert done.returncode == 0, done.stderr
    assert "1 triggers, 2 pipelines, 6 event definitions, 3 handlers: OK" in done.stdout
    for name in ("event_definitions.yaml", "triggers.yaml", "pipelines.yaml"):
        assert str(ETC / folder / name) in done.stdout
    assert "logging_config" in done.stdout


def test_sandbox_yagi_conf_passes_its_check() -> None:
    done = _run("yagi-event", "-c", "etc/sandbox/yagi.conf", "--check")
    assert done.returncode == 0, done.stderr
    assert "queue monitor.info: shoebox, winchester" in done.stdout


@pytest.mark.parametrize("cell", ["cell1", "cell2"])
def test_production_yagi_conf_per_cell_passes_its_check(
    cell: str, tmp_path: Path
) -> None:
    # installed as /etc/stacktach/ with data under /var/lib/stacktach/
    text = (ETC / "production" / f"yagi-{cell}.conf").read_text()
    assert f"deployment = {cell}" in text and f"/{cell}\n" in text  # its own vhost
    text = text.replace("/etc/stacktach/", f"{ETC / 'production'}/")
    text = text.replace("/var/lib/stacktach/", f"{tmp_path}/")
    conf = tmp_path / f"yagi-{cell}.conf"
    conf.write_text(text)
    done = _run("yagi-event", "-c", str(conf), "--check")
    assert done.returncode == 0, done.stderr
    assert "queue monitor.info" in done.stdout


def test_gunicorn_config_loads_the_api() -> None:
    config = str(ETC / "sandbox" / "winchester.yaml")
    done = _run(
        "gunicorn", "--check-config", "-c", str(ETC / "gunicorn.conf.py"),
        "quince.app:create_app()", STACKTACH_CONFIG=config,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    broken = _run(
        "gunicorn", "--check-config", "-c", str(ETC / "gunicorn.conf.py"),
        "quince.app:create_app()", STACKTACH_CONFIG=str(ETC / "no-such.yaml"),
    )  # fmt: skip
    assert broken.returncode != 0


def test_shared_files_are_the_same_in_both_sets() -> None:
    for name in ("event_definitions.yaml", "triggers.yaml"):
        sandbox = (ETC / "sandbox" / name).read_text()
        assert sandbox == (ETC / "production" / name).read_text(), name


@pytest.mark.parametrize("production", [False, True])
def test_rendered_sandbox_configs_pass_the_checks(
    production: bool, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    (root / "etc").mkdir(parents=True)
    for path in ETC.rglob("*"):
        if path.is_file():
            dest = root / "etc" / path.relative_to(ETC)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    layout = Layout(root)
    options = Options(
        production=production,
        db_url="mysql+pymysql://root@127.0.0.1:3306/stt_rendered",
        broker_url="amqp://guest:guest@127.0.0.1:5672//",
        exchange="stt_x",
        queue="stt_x.info",
        port=18999,
    )
    render(layout, options)
    winchester = (layout.etc / "winchester.yaml").read_text()
    assert "127.0.0.1:18999" in winchester
    assert "clock: event" in winchester  # a simulated cloud, either way
    done = _run("check-config", "--strict", "-c", str(layout.winchester_yaml), cwd=root)
    assert done.returncode == 0, done.stderr
    yagi = _run("yagi-event", "-c", str(layout.yagi_conf), "--check", cwd=root)
    assert yagi.returncode == 0, yagi.stderr
    assert "queue stt_x.info" in yagi.stdout
    pipelines = (layout.etc / "pipelines.yaml").read_text()
    assert "exchange: stt_x.usage" in pipelines
    assert "queue_name: stt_x.info.usage" in pipelines
    if production:
        assert "stt_rendered" in winchester
        assert "queue_type = quorum" in layout.yagi_conf.read_text()
        assert "CHANGE_ME" not in winchester
