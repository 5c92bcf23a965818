"""Built-in trait plugins and their short names.

``split``, ``bitfield``, ``timedelta`` and ``map``; any other plugin is named by an
import string (``package.module:Class``) in the definitions, or registered under a
name with ``distiller --plugin NAME=package.module:Class``.
"""

from __future__ import annotations

from distiller.plugins.bitfield import BitfieldPlugin
from distiller.plugins.map import MapPlugin
from distiller.plugins.split import SplitPlugin
from distiller.plugins.timedelta import TimedeltaPlugin

__all__ = [
    "BUILTIN_PLUGINS",
    "BitfieldPlugin",
    "MapPlugin",
    "SplitPlugin",
    "TimedeltaPlugin",
]

BUILTIN_PLUGINS: dict[str, type] = {
    "split": SplitPlugin,
    "bitfield": BitfieldPlugin,
    "timedelta": TimedeltaPlugin,
    "map": MapPlugin,
}
