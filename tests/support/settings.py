"""A small, complete ``winchester.yaml`` for tests, written into a folder.

:func:`write_settings` writes ``winchester.yaml``, ``event_definitions.yaml`` and
``triggers.yaml``. The definitions use an alias trait plugin (``part``, declared
by ``distiller_trait_plugins``) and a ``ctxt.`` path (only Ceilometer mode reads
it), so a test can tell whether each setting took effect from the stored traits.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEFINITIONS = """\
- event_type: compute.instance.*
  traits:
    instance_id:
      fields: payload.instance_id
    host_part:
      fields: publisher_id
      plugin: {name: part, parameters: {segment: 1}}
    ctx_user:
      fields: ctxt.user_id
"""

TRIGGERS = """\
- name: per_instance
  distinguished_by: [instance_id]
  expiration: "$last + 1h"
  fire_pipeline: fire
  expire_pipeline: expire
  match_criteria:
  - event_type: compute.instance.*
  fire_criteria:
  - event_type: compute.instance.exists
"""


def write_settings(folder: Path, url: str, **settings: Any) -> Path:
    """The path of a ``winchester.yaml`` in ``folder`` for database ``url``.

    ``settings`` are extra top-level keys (``distiller_ceilometer=True``, ...);
    ``None`` leaves a key out (``trigger_definitions=None``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "event_definitions.yaml").write_text(DEFINITIONS)
    (folder / "triggers.yaml").write_text(TRIGGERS)
    data: dict[str, Any] = {
        "database": {"url": url},
        "distiller_config": "event_definitions.yaml",
        "trigger_definitions": "triggers.yaml",
        "distiller_trait_plugins": {"part": "distiller.plugins.split:SplitPlugin"},
        **settings,
    }
    data = {key: value for key, value in data.items() if value is not None}
    path = folder / "winchester.yaml"
    path.write_text(json.dumps(data, indent=2))  # JSON is YAML
    return path


def notification(
    n: int, event_type: str = "compute.instance.update", **extra: Any
) -> dict[str, Any]:
    """A small oslo-style notification numbered ``n``."""
    return {
        "message_id": f"msg-{n:06d}",
        "event_type": event_type,
        "timestamp": "2024-03-10 12:00:00.000000",
        "publisher_id": "compute.host-1",
        "_context_request_id": f"req-{n}",
        "_context_user_id": "user-ctx",
        "_context_tenant": "tenant-ctx",
        "_context_project_id": "tenant-ctx",
        "payload": {"instance_id": f"i-{n % 7}", "user_id": "user-payload"},
        **extra,
    }
