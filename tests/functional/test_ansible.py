"""The Ansible roles: syntax, lint, and every template rendered and validated.

The playbooks run for real (``ansible-playbook -c local --tags config``) over the
sample inventory (two cells, two worker hosts, one API host, one database host)
with ``stv3_root`` pointing each host at a folder of its own under a temporary
directory; nothing is installed and no service is touched
(``stv3_install=false``, ``stv3_manage_services=false``). The rendered files are
then checked with our own ``check-config`` and ``yagi-event --check``, the units
with ``systemd-analyze verify``, and the database SQL and ``winchester-db
upgrade`` against the real MariaDB.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require

#: ansible-playbook runs once per module (minutes on a loaded machine).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "ansible"
BIN = Path(sys.executable).parent
INVENTORY = ANSIBLE / "inventory" / "sample.yml"
PLAYBOOKS = sorted(p.name for p in ANSIBLE.glob("*.yml"))
WORKERS = ("stv3-worker-1.example.com", "stv3-worker-2.example.com")
API = "stv3-api.example.com"
DB = "stv3-db.example.com"
CELLS = ("east", "west")
#: template -> the files it renders on some host (``{cell}``, ``{n}`` expanded).
RENDERS = {
    "common/winchester.yaml": "etc/stv3/winchester.yaml",
    "common/logging.conf": "etc/stv3/logging.conf",
    "common/event_definitions.yaml": "etc/stv3/event_definitions.yaml",
    "common/triggers.yaml": "etc/stv3/triggers.yaml",
    "common/pipelines.yaml": "etc/stv3/pipelines.yaml",
    "workers/yagi.conf": "etc/stv3/yagi-{cell}.conf",
    "workers/yagi.env": "etc/stv3/yagi-{cell}.env",
    "workers/pipeline-worker.env": "etc/stv3/pipeline-worker-{n}.env",
    "workers/yagi-event@.service": "etc/systemd/system/yagi-event@.service",
    "workers/pipeline-worker@.service": "etc/systemd/system/pipeline-worker@.service",
    "api/stv3-api.service": "etc/systemd/system/stv3-api.service",
    "db/60-stv3.cnf": "etc/mysql/mariadb.conf.d/60-stv3.cnf",
    "db/create.sql": "etc/stv3/create-database.sql",
}
#: What the usage audit reads from a compute.instance.exists.
AUDIT_TRAITS = (
    "instance_id",
    "tenant_id",
    "launched_at",
    "audit_period_beginning",
    "audit_period_ending",
    "state",
)
HARDENING = {
    "Restart": "on-failure",
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "ProtectHome": "yes",
    "RestartPreventExitStatus": "2",
}


def _tool(name: str) -> Path:
    path = BIN / name
    require(
        path.exists(), f"{name} is not installed in the venv (pip install -e .[dev])"
    )
    return path


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_CONFIG"] = str(ANSIBLE / "ansible.cfg")
    env["ANSIBLE_NOCOLOR"] = "1"
    env["ANSIBLE_LOCAL_TEMP"] = env["ANSIBLE_REMOTE_TEMP"] = str(
        Path(os.environ.get("TMPDIR", "/tmp")) / f"stv3-ansible-{os.getpid()}"
    )
    return env


def _run(*args: str | Path, cwd: Path = ANSIBLE) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )


class Rendered:
    """The folder each host of the sample inventory rendered into."""

    def __init__(self, root: Path, db_name: str, db_user: str, db_password: str):
        self.root = root
        self.db_name = db_name
        self.db_user = db_user
        self.db_password = db_password

    def host(self, name: str) -> Path:
        return self.root / name

    def etc(self, name: str) -> Path:
        return self.root / name / "etc" / "stv3"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rendered]:
    playbook = _tool("ansible-playbook")
    root = tmp_path_factory.mktemp("ansible")
    suffix = uuid.uuid4().hex[:8]
    result = Rendered(root, f"stv3_ansible_{suffix}", f"stv3a_{suffix}", "pa'ss\\word")
    user, group = _whoami()
    extra: dict[str, Any] = {
        "stv3_root": f"{root}/{{{{ inventory_hostname }}}}",
        "stv3_user": user,
        "stv3_group": group,
        "stv3_install": False,
        "stv3_manage_services": False,
        "stv3_db_host": "127.0.0.1",
        "stv3_db_name": result.db_name,
        "stv3_db_user": result.db_user,
        "stv3_db_password": result.db_password,
        "ansible_become": False,
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
    }
    vars_file = root / "extra-vars.json"
    vars_file.write_text(json.dumps(extra))
    run = _run(
        playbook, "-i", INVENTORY, "site.yml", "--tags", "config", "-f", "4",
        "-e", f"@{vars_file}",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    yield result


def _whoami() -> tuple[str, str]:
    import grp
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_syntax_check(playbook: str) -> None:
    run = _run(_tool("ansible-playbook"), "--syntax-check", "-i", INVENTORY, playbook)
    assert run.returncode == 0, run.stderr


def test_site_runs_every_playbook() -> None:
    site = yaml.safe_load((ANSIBLE / "site.yml").read_text())
    imported = {play["ansible.builtin.import_playbook"] for play in site}
    assert imported == set(PLAYBOOKS) - {"site.yml"}


@pytest.mark.slow
def test_ansible_lint_is_clean() -> None:
    lint = _tool("ansible-lint")
    run = _run(lint, "--offline", "--nocolor")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]


def test_every_template_is_rendered(rendered: Rendered) -> None:
    templates = {
        f"{p.parent.parent.name}/{p.name.removesuffix('.j2')}"
        for p in ANSIBLE.glob("roles/*/templates/*.j2")
    }
    assert templates == set(RENDERS), "add the new template to RENDERS"
    files = {
        str(p.relative_to(rendered.host(h)))
        for h in (*WORKERS, API, DB)
        for p in rendered.host(h).rglob("*")
        if p.is_file()
    }
    for template, pattern in RENDERS.items():
        expected = {pattern.format(cell=c, n=1) for c in CELLS}
        assert expected <= files, f"{template} rendered nothing at {pattern}"


def test_one_yagi_conf_per_cell(rendered: Rendered) -> None:
    for host in WORKERS:
        for cell in CELLS:
            path = rendered.etc(host) / f"yagi-{cell}.conf"
            conf = configparser.RawConfigParser()
            conf.read(path)
            assert conf.get("global", "deployment") == cell
            assert conf.get("shoebox", "destination_folder").endswith(f"archive/{cell}")
            queues = [q.strip() for q in conf.get("consumers", "queues").split(",")]
            assert queues == (
                ["monitor.info", "monitor.error"]
                if cell == "east"
                else ["monitor.info"]
            )
            for queue in queues:
                assert conf.get(f"consumer:{queue}", "queue_type") == "quorum"
                assert conf.getboolean(f"consumer:{queue}", "durable")
        east = configparser.RawConfigParser()
        east.read(rendered.etc(host) / "yagi-east.conf")
        assert ";" in east.get("rabbit_broker", "url")  # the cluster's node list
    unit = _unit(rendered.host(WORKERS[0]) / "etc/systemd/system/yagi-event@.service")
    # the original pointed every cell at /etc/stv3/yagi.conf
    assert "/etc/stv3/yagi-%i.conf" in unit["ExecStart"]


def test_num_pipeline_workers_per_host(rendered: Rendered) -> None:
    counts = {
        host: sorted(p.name for p in rendered.etc(host).glob("pipeline-worker-*.env"))
        for host in WORKERS
    }
    assert counts == {
        WORKERS[0]: [f"pipeline-worker-{n}.env" for n in (1, 2)],
        WORKERS[1]: [f"pipeline-worker-{n}.env" for n in (1, 2, 3, 4)],
    }
    unit = _unit(
        rendered.host(WORKERS[0]) / "etc/systemd/system/pipeline-worker@.service"
    )
    assert "--name pipeline-worker-%H-%i" in unit["ExecStart"]


def test_distiller_trait_plugins_is_a_mapping(rendered: Rendered) -> None:
    data = yaml.safe_load((rendered.etc(WORKERS[0]) / "winchester.yaml").read_text())
    assert data["distiller_trait_plugins"] == {
        "part": "distiller.plugins.split:SplitPlugin"
    }
    assert data["api"]["token"] == "change-me-too"


def test_rendered_configs_pass_check_config(rendered: Rendered) -> None:
    check = _tool("check-config")
    for host in (*WORKERS, API, DB):
        run = _run(check, "--strict", "-c", rendered.etc(host) / "winchester.yaml")
        assert run.returncode == 0, f"{host}: {run.stdout}{run.stderr}"
    yagi = _tool("yagi-event")
    for host in WORKERS:
        for cell in CELLS:
            run = _run(yagi, "-c", rendered.etc(host) / f"yagi-{cell}.conf", "--check")
            assert run.returncode == 0, f"{host} {cell}: {run.stdout}{run.stderr}"
            assert "queue monitor.info: shoebox, winchester" in run.stdout


def test_rendered_definitions_distil_nova_traffic(
    rendered: Rendered, tmp_path: Path
) -> None:
    traffic = tmp_path / "nova.jsonl"
    gen = _run(_tool("notigen"), "--count", "400", "--out", traffic, "--seed", "7")
    assert gen.returncode == 0, gen.stderr
    definitions = rendered.etc(WORKERS[0]) / "event_definitions.yaml"
    run = _run(_tool("distiller"), "-q", "-d", definitions, traffic)
    assert run.returncode == 0, run.stderr[-2000:]
    events = [json.loads(line) for line in run.stdout.splitlines()]
    exists = [e for e in events if e["event_type"] == "compute.instance.exists"]
    assert exists, "notigen's traffic has no .exists"
    for event in exists:
        for trait in AUDIT_TRAITS:
            assert trait in event, f"{trait} missing from {event}"
    assert all(isinstance(e.get("memory_mb", 0), int) for e in events)


def _unit(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_units_are_hardened_and_verify(rendered: Rendered, tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    require(analyze is not None, "systemd-analyze is not installed")
    assert analyze is not None
    units = {
        WORKERS[0]: {
            "yagi-event@.service": "yagi-event@east.service",
            "pipeline-worker@.service": "pipeline-worker@1.service",
        },
        API: {"stv3-api.service": "stv3-api.service"},
    }
    for host, names in units.items():
        # ExecStart must exist for systemd-analyze: stub the release's commands
        bindir = rendered.host(host) / "opt/stv3/bin"
        bindir.mkdir(parents=True, exist_ok=True)
        for command in ("yagi-event", "pipeline-worker", "quince-api"):
            stub = bindir / command
            stub.write_text("#!/bin/sh\nexit 0\n")
            stub.chmod(0o755)
        folder = tmp_path / host
        folder.mkdir()
        for template, instance in names.items():
            source = rendered.host(host) / "etc/systemd/system" / template
            unit = _unit(source)
            for key, value in HARDENING.items():
                assert unit.get(key) == value, f"{template}: {key}={unit.get(key)}"
            assert unit["User"] == _whoami()[0]  # stv3_user (stv3 by default)
            assert unit["ReadWritePaths"].startswith(str(rendered.host(host)))
            assert unit["ExecStart"].startswith(str(bindir))
            shutil.copy(source, folder / instance)
        run = _run(analyze, "verify", *sorted(folder.iterdir()), cwd=folder)
        assert "Unknown key" not in run.stderr, run.stderr
        assert "Unknown section" not in run.stderr, run.stderr
        assert run.returncode == 0, run.stderr


def test_database_sql_and_migration(rendered: Rendered, mysql_server: str) -> None:
    import sqlalchemy as sa

    sql = (rendered.etc(DB) / "create-database.sql").read_text()
    statements = [_strip_comments(s) for s in sql.split(";\n") if _strip_comments(s)]
    assert len(statements) == 4, statements
    admin = sa.create_engine(mysql_server)
    try:
        # twice: the role runs it on every deployment (idempotent)
        _execute(admin, statements + statements)
        upgrade = _run(
            _tool("winchester-db"),
            "-c",
            rendered.etc(DB) / "winchester.yaml",
            "upgrade",
        )
        assert upgrade.returncode == 0, upgrade.stderr
        url = sa.engine.make_url(mysql_server).set(
            username=rendered.db_user,
            password=rendered.db_password,
            database=rendered.db_name,
        )
        user_engine = sa.create_engine(url)
        try:
            with user_engine.connect() as conn:
                tables = set(sa.inspect(conn).get_table_names())
        finally:
            user_engine.dispose()
        assert {"event", "stream", "trait_index", "stream_event"} <= tables, tables
    finally:
        _execute(
            admin,
            [
                f"DROP DATABASE IF EXISTS `{rendered.db_name}`",
                f"DROP USER IF EXISTS '{rendered.db_user}'@'%'",
            ],
        )
        admin.dispose()


def _execute(engine: Any, statements: list[str]) -> None:
    """Run SQL as the mysql client would: no driver parameter formatting."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for statement in statements:
            cursor.execute(statement)
        raw.commit()
    finally:
        raw.close()


def _strip_comments(statement: str) -> str:
    lines = [line for line in statement.splitlines() if not line.startswith("--")]
    return "\n".join(lines).strip().rstrip(";")


@pytest.mark.rabbitmq
def test_rendered_yagi_conf_declares_quorum_queues_with_dead_letter(
    rendered: Rendered, rabbitmq_url: str, tmp_path: Path
) -> None:
    """yagi-event, started on a rendered yagi.conf, declares what the role promises.

    The test changes only what must be unique to it (broker URL, exchange and
    queue names) and points ``[winchester]`` at an SQLite database; the queue
    settings are the rendered ones.
    """
    import signal

    import notabene
    from tests.support.settings import write_settings
    from tests.support.waiting import wait_for

    suffix = uuid.uuid4().hex[:8]
    queue, exchange = f"stv3-ansible-{suffix}.info", f"stv3-ansible-{suffix}"
    settings = write_settings(tmp_path / "w", f"sqlite:///{tmp_path / 'w.db'}")
    upgrade = _run(_tool("winchester-db"), "-c", settings, "upgrade")
    assert upgrade.returncode == 0, upgrade.stderr
    conf = configparser.RawConfigParser()
    conf.read(rendered.etc(WORKERS[0]) / "yagi-west.conf")
    rendered_queue = conf["consumer:monitor.info"]
    assert rendered_queue["queue_type"] == "quorum"
    conf["rabbit_broker"]["url"] = rabbitmq_url
    conf["consumers"]["queues"] = queue
    conf[f"consumer:{queue}"] = {
        **rendered_queue,
        "exchange": exchange,
        "routing_key": queue,
    }
    conf.remove_section("consumer:monitor.info")
    conf["winchester"]["config_file"] = str(settings)
    path = tmp_path / "yagi-west.conf"
    with path.open("w") as out:
        conf.write(out)
    process = subprocess.Popen(
        [str(_tool("yagi-event")), "-c", str(path)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    connection: Any = notabene.connect(rabbitmq_url)
    try:

        def declared() -> bool:
            if process.poll() is not None:
                pytest.fail(f"yagi-event exited: {process.stderr.read()}")  # type: ignore[union-attr]
            try:
                connection.channel().queue_declare(queue, passive=True)
                return True
            except Exception:
                return False

        wait_for(declared, timeout=120, what=f"yagi-event to declare {queue}")
        # The broker refuses to see the queue or its dead-letter queue as classic
        # (everything else equal: the queue dead-letters to <queue>.failed).
        dead_letter = {
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": f"{queue}.failed",
        }
        for name, others in ((queue, dead_letter), (f"{queue}.failed", {})):
            channel = connection.channel()
            with pytest.raises(Exception, match="x-queue-type"):
                channel.queue_declare(
                    name,
                    durable=True,
                    auto_delete=False,
                    arguments={**others, "x-queue-type": "classic"},
                )
        # ... and knows the dead-letter route of the queue.
        channel = connection.channel()
        with pytest.raises(Exception, match="x-dead-letter-routing-key"):
            channel.queue_declare(
                queue,
                durable=True,
                auto_delete=False,
                arguments={
                    "x-queue-type": "quorum",
                    "x-dead-letter-exchange": "",
                    "x-dead-letter-routing-key": "elsewhere",
                },
            )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
            channel = connection.channel()
            for name in (queue, f"{queue}.failed"):
                channel.queue_delete(name)
            channel.exchange_delete(exchange)
            connection.release()
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
