"""Errors notabene raises on purpose.

Two kinds, following :mod:`stacktach.exceptions`:

* :class:`BrokerUnavailable` (recoverable) - the broker could not be reached, or
  stayed away longer than the retry policy allows. The work can be retried later.
* :class:`BrokerConfigError` (configuration) - the broker refused what we asked for:
  bad credentials, an unknown vhost, or a queue that already exists with different
  arguments. Retrying will not help; fix the URL or the topology.
"""

from __future__ import annotations

from stacktach.exceptions import ConfigError, RecoverableError

__all__ = ["BrokerConfigError", "BrokerUnavailable", "PublishNotConfirmed"]


class BrokerUnavailable(RecoverableError):
    """The broker could not be reached within the retry policy.

    ``url`` is the broker URL with its password masked; ``attempts`` is how many
    times we tried; ``last_error`` is the exception seen last (also ``__cause__``).
    """

    def __init__(
        self, url: str, attempts: int, last_error: BaseException | None
    ) -> None:
        self.url = url
        self.attempts = attempts
        self.last_error = last_error
        detail = f": {type(last_error).__name__}: {last_error}" if last_error else ""
        noun = "attempt" if attempts == 1 else "attempts"
        super().__init__(f"broker {url} unavailable after {attempts} {noun}{detail}")


class PublishNotConfirmed(RecoverableError):
    """The broker negatively acknowledged (nacked) published messages repeatedly."""


class BrokerConfigError(ConfigError):
    """The broker refused a connection or declaration; the configuration is wrong."""
