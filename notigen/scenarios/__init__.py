"""Operation scenarios: nova's notification sequences as data.

:mod:`~notigen.scenarios.lifecycle` (create, delete and their failures) and
:mod:`~notigen.scenarios.actions` (everything done to a running instance) hold
the data; :mod:`~notigen.scenarios.model` defines and validates the format.
:func:`load_scenarios` returns the compiled set the engine runs.
"""

from __future__ import annotations

from notigen.scenarios import actions, lifecycle
from notigen.scenarios.model import Scenario, ScenarioError, Step, compile_scenarios

__all__ = ["Scenario", "ScenarioError", "Step", "compile_scenarios", "load_scenarios"]


def load_scenarios() -> dict[str, Scenario]:
    """The built-in scenarios by name, validated.

    Raises :class:`ScenarioError` if the packaged data is malformed (a bug).
    """
    return compile_scenarios(
        {**lifecycle.SCENARIOS, **actions.SCENARIOS}, lifecycle.BLOCKS
    )
