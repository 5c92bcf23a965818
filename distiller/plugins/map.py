"""``map``: translate a field's value through a table."""

from __future__ import annotations

from typing import Any

from distiller.traitplugin import MatchList, TraitPlugin


class MapPlugin(TraitPlugin):
    """Look the first match up in ``values``; unknown values give ``default``.

    Example - nova power states to names::

        power_state:
          fields: payload.power_state
          plugin:
            name: map
            parameters:
              values: {0: pending, 1: running, 4: shutdown}
              default: unknown

    With ``case_sensitive: false`` string keys match regardless of case. When no
    ``default`` is given an unknown value gives no trait. No match gives no trait.
    """

    def __init__(
        self,
        values: dict[Any, Any] | None = None,
        default: Any = None,
        case_sensitive: bool = True,
    ) -> None:
        if not isinstance(values, dict) or not values:
            raise ValueError("values must be a non-empty mapping of value -> result")
        if not isinstance(case_sensitive, bool):
            raise ValueError(
                f"case_sensitive must be true or false, got {case_sensitive!r}"
            )
        self.case_sensitive = case_sensitive
        self.values = {self._key(k): v for k, v in values.items()}
        self.default = default

    def _key(self, value: Any) -> Any:
        if not self.case_sensitive and isinstance(value, str):
            return value.casefold()
        return value

    def trait_value(self, match_list: MatchList) -> Any:
        if not match_list:
            return None
        key = self._key(match_list[0][1])
        try:
            return self.values.get(key, self.default)
        except TypeError:  # unhashable (a list or object in the field)
            return self.default
