"""The distiller's settings, as they appear in ``winchester.yaml``.

=========================  =========  ===============================================
key                        default    meaning
=========================  =========  ===============================================
``distiller_config``       required   the ``event_definitions.yaml`` file; a relative
                                      path is relative to the config file's folder
``distiller_trait_plugins`` ``{}``    extra trait plugins, name -> ``module:Class``
``catch_all_notifications`` ``false`` unmatched notifications become events with the
                                      default traits only
``distiller_ceilometer``   ``false``  Ceilometer compatibility mode (``ctxt.*`` paths,
                                      Ceilometer's default traits)
=========================  =========  ===============================================

:meth:`DistillerSettings.from_mapping` reads just these keys out of a larger
mapping; the file's own loader checks that no other unknown key is present.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distiller.distiller import Distiller
from stacktach.exceptions import ConfigError
from stacktach.yamlutil import key_line

__all__ = ["KEYS", "DistillerSettings"]

KEYS = (
    "distiller_config",
    "distiller_trait_plugins",
    "catch_all_notifications",
    "distiller_ceilometer",
)


@dataclass(frozen=True, slots=True)
class DistillerSettings:
    """Where the definitions are and how to read them."""

    definitions: Path
    catchall: bool = False
    ceilometer: bool = False
    plugins: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: str, base_dir: Path | None = None
    ) -> DistillerSettings:
        """Read the distiller keys of a config mapping; ``ConfigError`` if invalid."""

        def fail(key: str, message: str) -> ConfigError:
            return ConfigError(
                message, source=source, key=key, line=key_line(data, key)
            )

        path = data.get("distiller_config")
        if not isinstance(path, str) or not path:
            raise fail("distiller_config", "required: the event_definitions.yaml file")
        definitions = Path(path)
        if not definitions.is_absolute() and base_dir is not None:
            definitions = base_dir / definitions
        flags: dict[str, bool] = {}
        for key in ("catch_all_notifications", "distiller_ceilometer"):
            value = data.get(key, False)
            if not isinstance(value, bool):
                raise fail(key, f"expected true or false, got {value!r}")
            flags[key] = value
        plugins = data.get("distiller_trait_plugins") or {}
        if not isinstance(plugins, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in plugins.items()
        ):
            raise fail(
                "distiller_trait_plugins",
                "expected a mapping of plugin name -> 'package.module:Class'",
            )
        return cls(
            definitions=definitions,
            catchall=flags["catch_all_notifications"],
            ceilometer=flags["distiller_ceilometer"],
            plugins=dict(plugins),
        )

    def build(self) -> Distiller:
        """Load the definitions and build the distiller (``ConfigError`` if bad)."""
        return Distiller.from_file(
            self.definitions,
            catchall=self.catchall,
            ceilometer=self.ceilometer,
            plugins=self.plugins,
        )
