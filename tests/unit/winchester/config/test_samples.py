"""The original sample configs of corpus/config load unchanged, as a set."""

from __future__ import annotations

from pathlib import Path

import pytest

from winchester.config import (
    ConfigWarning,
    HandlerSpec,
    WinchesterSettings,
    check_references,
    load_pipelines,
    load_triggers,
)

SETS = ["", "winchester-etc"]


def _ignore(_warning: ConfigWarning) -> None:
    """Warnings are tested elsewhere."""


@pytest.mark.parametrize("folder", SETS)
def test_each_sample_set_loads_from_its_own_folder(
    corpus_config: Path, folder: str
) -> None:
    """config_path points at folders that do not exist here (``winchester``,
    ``/home/winchester/etc``): the files are found in the yaml's own folder."""
    base = corpus_config / folder
    warnings: list[ConfigWarning] = []
    settings = WinchesterSettings.load(base / "winchester.yaml", warn=warnings.append)
    assert not settings.config_path[0].is_dir()
    assert settings.search_path[-1] == base.absolute()
    assert settings.database.url == "mysql://winchester:testpasswd@localhost/winchester"
    assert settings.statistics_period == 10.0
    assert settings.pipeline_worker_batch_size == 1000
    triggers_file = settings.locate("trigger_definitions")
    pipelines_file = settings.locate("pipeline_config")
    assert triggers_file == base.absolute() / "triggers.yaml"
    assert pipelines_file == base.absolute() / "pipelines.yaml"
    triggers = load_triggers(triggers_file, warn=warnings.append)
    pipelines = load_pipelines(pipelines_file, set(settings.handler_specs()))
    check_references(triggers, pipelines)
    assert [t.name for t in triggers] == ["test_trigger"]
    distiller = settings.distiller_settings()
    assert distiller is not None and distiller.build().definitions
    # only the legacy handler paths and (etc) the misspelling are warned about
    assert {w.message.split()[0] for w in warnings} <= {
        "'winchester.pipeline_handler:LoggingHandler'",
        "'winchester.pipeline_handler:UsageHandler'",
        "'winchester.pipeline_handler:NotabeneHandler'",
        "misspelling",
    }


def test_the_sandbox_set(corpus_config: Path) -> None:
    settings = WinchesterSettings.load(corpus_config / "winchester.yaml", warn=_ignore)
    assert settings.purge_completed_streams is False
    assert settings.logging_config == "logging.conf"
    assert settings.pipeline_handlers == {
        "logger": "logger",
        "usage": "usage",
        "notabene": "notabene",
    }
    (trigger,) = load_triggers(corpus_config / "triggers.yaml")
    assert (trigger.fire_pipeline, trigger.expire_pipeline) == (
        "test_fire_pipeline",
        "test_expire_pipeline",
    )
    assert len(trigger.match_criteria) == 2 and len(trigger.fire_criteria) == 1
    pipelines = load_pipelines(
        corpus_config / "pipelines.yaml", {"logger", "usage", "notabene"}
    )
    assert [s.name for s in pipelines["test_fire_pipeline"]] == [
        "logger",
        "usage",
        "notabene",
    ]
    notabene = pipelines["test_expire_pipeline"][2]
    assert isinstance(notabene, HandlerSpec)
    assert notabene.params["env_keys"] == ["usage_notifications"]
    assert notabene.params["port"] == 5672


def test_the_etc_set(corpus_config: Path) -> None:
    settings = WinchesterSettings.load(
        corpus_config / "winchester-etc" / "winchester.yaml", warn=_ignore
    )
    assert settings.log_level == "DEBUG"
    assert settings.purge_completed_streams is True
    pipelines = load_pipelines(
        corpus_config / "winchester-etc" / "pipelines.yaml", {"logger"}
    )
    assert pipelines == {
        "test_pipeline": [HandlerSpec("logger")],
        "test_expire_pipeline": [HandlerSpec("logger")],
    }
