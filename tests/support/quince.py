"""A database filled by the trigger manager from a notigen day, for quince's tests.

:func:`fill` generates notigen traffic (a seed, a day, a few instances) and
ingests it through :class:`winchester.ingest.TriggerManager` with the corpus'
event definitions - plus ``memory_f``, a float copy of ``memory_mb``, so
float filters have a trait to match - and the corpus' triggers. Run as a
script (``python -m tests.support.quince URL CONFIG_DIR SEED``) it ingests one
more day slowly (small batches): the concurrent writer of the paging test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from distiller import Distiller
from winchester.clock import EventClock
from winchester.config.triggers import load_triggers
from winchester.ingest import TriggerManager
from winchester.storage.engine import connect

ROOT = Path(__file__).resolve().parents[2]


def write_config(folder: Path, corpus_config: Path, url: str, **api: Any) -> Path:
    """winchester.yaml (and its definitions and triggers) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    definitions = yaml.safe_load((corpus_config / "event_definitions.yaml").read_text())
    for item in definitions:
        traits = item.get("traits") or {}
        if "memory_mb" in traits:
            traits["memory_f"] = {"type": "float", "fields": "payload.memory_mb"}
    (folder / "event_definitions.yaml").write_text(yaml.safe_dump(definitions))
    (folder / "triggers.yaml").write_text((corpus_config / "triggers.yaml").read_text())
    settings: dict[str, Any] = {
        "database": {"url": url},
        "distiller_config": "event_definitions.yaml",
        "trigger_definitions": "triggers.yaml",
    }
    if api:
        settings["api"] = api
    path = folder / "winchester.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def notigen_day(
    out: Path, seed: int, instances: int = 6, count: int = 1500
) -> list[bytes]:
    """The lines of one notigen day."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "notigen.cli",
            "--seed",
            str(seed),
            "--duration",
            "1d",
            "--instances",
            str(instances),
            "--count",
            str(count),
            "--out",
            str(out),
        ],
        check=True,
        capture_output=True,
        cwd=ROOT,
    )
    return [line for line in out.read_bytes().splitlines() if line.strip()]


def ingest(url: str, config_dir: Path, lines: list[bytes], batch: int = 500) -> None:
    """Ingest ``lines`` through the trigger manager."""
    engine = connect(url)
    manager = TriggerManager(
        engine,
        load_triggers(config_dir / "triggers.yaml"),
        EventClock(engine, refresh=0),
        distiller=Distiller.from_file(config_dir / "event_definitions.yaml"),
    )
    for start in range(0, len(lines), batch):
        manager.add_notifications(lines[start : start + batch])
    engine.dispose()


if __name__ == "__main__":
    db_url, folder, seed_text = sys.argv[1:4]
    config = Path(folder)
    day = notigen_day(config / f"day-{seed_text}.jsonl", int(seed_text))
    ingest(db_url, config, day, batch=20)
