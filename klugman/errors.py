"""What can go wrong talking to quince, one class per kind, and the exit status of each.

Every error the client raises on purpose is an :class:`ApiError` (itself a
:class:`~stacktach.exceptions.StackTachError`). The class is chosen from the HTTP
status; the message is the server's ``description`` (falcon's JSON error body,
``{"title": ..., "description": ...}``) when it gave one, else its ``title``, else
the status line.

=================  ===========================================  ===========
class              when                                         exit status
=================  ===========================================  ===========
:class:`NotFound`      404 (unknown stream, event, event type;  1
                       archives not configured)
:class:`Conflict`      409 (a reset the stream's state refuses)  1
:class:`BadRequest`    400 and any other 4xx: a bad parameter,  2
                       named in the description
:class:`Unauthorized`  401 or 403 (no token, a wrong token)      4
:class:`ServerError`   5xx, or an answer that is not the API's   3
                       JSON (a proxy's error page, another
                       service on that port)
:class:`Unreachable`   no answer at all: refused, unknown host,  3
                       timed out, connection reset
=================  ===========================================  ===========
"""

from __future__ import annotations

from stacktach.exceptions import StackTachError

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "NotFound",
    "ServerError",
    "Unauthorized",
    "Unreachable",
    "for_status",
]


class ApiError(StackTachError):
    """A request to the API failed; ``status`` is the HTTP status (None: no answer)."""

    #: The exit status ``klugman`` ends with for this kind of error.
    exit_status = 1

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        title: str | None = None,
        description: str | None = None,
        body: object = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.description = description
        #: The decoded response body, when there was one.
        self.body = body


class NotFound(ApiError):
    """404: no such stream, event or event type (or no archive folder configured)."""


class Conflict(ApiError):
    """409: the request does not fit the resource's state (resetting a live stream)."""


class BadRequest(ApiError):
    """400 (or another 4xx): a bad parameter; the description names it."""

    exit_status = 2


class Unauthorized(ApiError):
    """401 or 403: the API wants a token (``--token``), or a different one."""

    exit_status = 4


class ServerError(ApiError):
    """A 5xx, or an answer that is not the API's JSON."""

    exit_status = 3


class Unreachable(ApiError):
    """No answer from the server: connection refused, unknown host, timeout."""

    exit_status = 3


def for_status(status: int) -> type[ApiError]:
    """The error class for an HTTP error ``status`` (4xx or 5xx)."""
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status in (401, 403):
        return Unauthorized
    if 400 <= status < 500:
        return BadRequest
    return ServerError
