"""``bitfield``: an integer whose bits say which fields were present (or equal)."""

from __future__ import annotations

from typing import Any

from distiller.traitplugin import MatchList, TraitPlugin


class BitfieldPlugin(TraitPlugin):
    """Start from ``initial_bitfield`` and set bit ``bit`` for each flag that holds.

    Each flag is ``{path: <match path>, bit: <n>, value: <optional>}``: the bit is
    set when a match has that path (and, with ``value``, that value). The paths
    are those of the trait's ``fields``, written without quotes.
    """

    def __init__(
        self, initial_bitfield: int = 0, flags: list[dict[str, Any]] | None = None
    ) -> None:
        if not isinstance(initial_bitfield, int):
            raise ValueError(
                f"initial_bitfield must be an integer, got {initial_bitfield!r}"
            )
        self.initial_bitfield = initial_bitfield
        self.flags: list[tuple[str, int, bool, Any]] = []
        for number, flag in enumerate(flags or []):
            if not isinstance(flag, dict) or "path" not in flag or "bit" not in flag:
                raise ValueError(
                    f"flags[{number}] must be a mapping with 'path' and 'bit'"
                )
            unknown = set(flag) - {"path", "bit", "value"}
            if unknown:
                raise ValueError(f"flags[{number}] has unknown keys {sorted(unknown)}")
            bit = flag["bit"]
            if not isinstance(bit, int) or isinstance(bit, bool) or not 0 <= bit < 63:
                raise ValueError(
                    f"flags[{number}].bit must be an integer 0-62, got {bit!r}"
                )
            self.flags.append(
                (str(flag["path"]), 1 << bit, "value" in flag, flag.get("value"))
            )

    def trait_value(self, match_list: MatchList) -> Any:
        matches = dict(match_list)
        bitfield = self.initial_bitfield
        for path, mask, has_value, value in self.flags:
            if path in matches and (not has_value or matches[path] == value):
                bitfield |= mask
        return bitfield
