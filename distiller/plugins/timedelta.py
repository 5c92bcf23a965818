"""``timedelta``: seconds between two timestamp fields (Ceilometer's plugin)."""

from __future__ import annotations

from typing import Any

from distiller.traitplugin import MatchList, TraitPlugin
from stacktach.exceptions import TimestampError
from stacktach.timeutils import parse_timestamp


class TimedeltaPlugin(TraitPlugin):
    """The absolute number of seconds between exactly two matched timestamps.

    ``fields: [payload.created_at, payload.launched_at]`` gives how long the
    launch took. Any other number of matches, or a value that is not a timestamp,
    gives no trait.
    """

    def trait_value(self, match_list: MatchList) -> Any:
        if len(match_list) != 2:
            return None
        try:
            start = parse_timestamp(match_list[0][1])
            end = parse_timestamp(match_list[1][1])
        except TimestampError:
            return None
        return abs((end - start).total_seconds())
