"""Stream states (numbering as the original's, which the API shows by name).

``active``        open: events join it; it fires when ``fire_timestamp`` passes and
                  expires when ``expire_timestamp`` passes.
``firing``        a worker holds its lease and runs the fire pipeline.
``expiring``      a worker holds its lease and runs the expire pipeline.
``error``         the fire pipeline failed ``max_attempts`` times (or cannot run).
``expire_error``  the same for the expire pipeline.
``completed``     done (kept only when ``purge_completed_streams`` is false).
``retry_fire``    waiting to be fired again (after a failure or a reset).
``retry_expire``  waiting to be expired again.
"""

from __future__ import annotations

import enum

__all__ = ["StreamState"]


class StreamState(enum.IntEnum):
    """The state of a stream."""

    ACTIVE = 1
    FIRING = 2
    EXPIRING = 3
    ERROR = 4
    EXPIRE_ERROR = 5
    COMPLETED = 6
    RETRY_FIRE = 7
    RETRY_EXPIRE = 8
