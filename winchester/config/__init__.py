"""Winchester's configuration: winchester.yaml, triggers.yaml and pipelines.yaml.

::

    from winchester.config import WinchesterSettings, load_triggers, load_pipelines

    settings = WinchesterSettings.load("winchester.yaml")
    triggers = load_triggers(settings.locate("trigger_definitions"))
    pipelines = load_pipelines(settings.locate("pipeline_config"),
                               set(settings.handler_specs()))
    check_references(triggers, pipelines)

Every loader validates strictly and raises
:class:`~stacktach.exceptions.ConfigError` as ``file:line: key: message``;
warnings go to a ``warn`` callback (default: the ``winchester.config`` logger).
:func:`check_config` runs all of it and collects every problem, as the
``check-config`` command does. Importing this package reads no file.
"""

from winchester.config.check import CheckResult, check_config
from winchester.config.criteria import Criterion, build_criterion
from winchester.config.diagnostics import ConfigWarning, WarnFn
from winchester.config.handlers import BUILTIN_HANDLERS, check_handler, resolve_handler
from winchester.config.pipelines import (
    HandlerSpec,
    check_references,
    load_pipelines,
    reference_errors,
)
from winchester.config.settings import DatabaseSettings, WinchesterSettings
from winchester.config.triggers import Match, TriggerDefinition, load_triggers

__all__ = [
    "BUILTIN_HANDLERS",
    "CheckResult",
    "ConfigWarning",
    "Criterion",
    "DatabaseSettings",
    "HandlerSpec",
    "Match",
    "TriggerDefinition",
    "WarnFn",
    "WinchesterSettings",
    "build_criterion",
    "check_config",
    "check_handler",
    "check_references",
    "load_pipelines",
    "load_triggers",
    "reference_errors",
    "resolve_handler",
]
