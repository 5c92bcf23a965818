"""The migration builds the declared schema; winchester-db drives it."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from click.testing import CliRunner

from winchester.storage.cli import main
from winchester.storage.engine import connect
from winchester.storage.migrate import upgrade
from winchester.storage.schema import metadata


def test_upgrade_to_head_gives_exactly_the_declared_schema(database_url: str) -> None:
    engine = connect(database_url)
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "winchester.yaml"
    config.write_text(f"database:\n  url: {url}\n")
    return config


def tables(url: str) -> set[str]:
    engine = connect(url)
    names = set(sa.inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_winchester_db_upgrade_current_downgrade(
    database_url: str, tmp_path: Path
) -> None:
    config = str(write_config(tmp_path, database_url))
    runner = CliRunner()
    result = runner.invoke(main, ["-c", config, "upgrade"])
    assert result.exit_code == 0, result.output
    assert {"event", "stream", "trait_index", "alembic_version"} <= tables(database_url)
    result = runner.invoke(main, ["-c", config, "current"])
    assert result.exit_code == 0 and "(head)" in result.output
    result = runner.invoke(main, ["-c", config, "downgrade", "base"])
    assert result.exit_code == 0, result.output
    assert tables(database_url) <= {"alembic_version"}


def test_upgrade_sql_prints_ddl_without_touching_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'untouched.db'}"
    result = CliRunner().invoke(
        main, ["-c", str(write_config(tmp_path, url)), "upgrade", "--sql"]
    )
    assert result.exit_code == 0, result.output
    assert "CREATE TABLE event" in result.output
    assert "CREATE TABLE trait_index" in result.output
    assert not (tmp_path / "untouched.db").exists() or tables(url) == set()


def test_bad_config_and_bad_revision(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["-c", str(tmp_path / "absent.yaml"), "current"])
    assert missing.exit_code == 2 and "absent.yaml" in missing.output
    config = str(write_config(tmp_path, f"sqlite:///{tmp_path / 'w.db'}"))
    bad = runner.invoke(main, ["-c", config, "upgrade", "nonsense"])
    assert bad.exit_code == 1 and "nonsense" in bad.output
