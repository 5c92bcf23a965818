"""The trait plugin contract.

A trait plugin turns the matches of a trait's ``fields`` into the trait's value.
It is built once per trait definition, with the ``parameters`` of the definition as
keyword arguments, and called for every notification - *even when nothing
matched* (``match_list`` is then empty)::

    - event_type: compute.instance.*
      traits:
        host:
          fields: publisher_id
          plugin: {name: split, parameters: {segment: 1, max_split: 1}}

``match_list`` is a list of ``(path, value)`` tuples, ``path`` being the dotted
path of the match (``payload.image_meta.org.openstack__1__os_distro``) and
``value`` never ``None``. Returning ``None`` leaves the trait out of the event;
any other value is converted to the trait's type.

Plugins written for stackdistiller (``trait_value``) and for Ceilometer
(``trait_values``, returning a list) work unchanged: :func:`adapt` wraps them.
Constructor arguments are checked when the definitions load, so a misspelt
parameter is a configuration error, not a failure on the first notification.
"""

from __future__ import annotations

import abc
import inspect
from collections.abc import Callable
from typing import Any

__all__ = ["MatchList", "TraitPlugin", "adapt"]

MatchList = list[tuple[str, Any]]


class TraitPlugin(abc.ABC):
    """Base class of trait plugins: one method, ``trait_value``."""

    @abc.abstractmethod
    def trait_value(self, match_list: MatchList) -> Any:
        """Return the trait value from ``match_list``, or ``None`` for no trait."""


def adapt(plugin: object) -> Callable[[MatchList], Any]:
    """Return the function that computes a value from a match list for ``plugin``.

    Accepts our :class:`TraitPlugin`, stackdistiller-style objects with
    ``trait_value`` and Ceilometer-style objects with ``trait_values`` (the first
    non-null value of the list is used). Raises ``TypeError`` for anything else.
    """
    if isinstance(plugin, TraitPlugin):
        return plugin.trait_value
    values = getattr(plugin, "trait_values", None)
    if callable(values) and _overrides(plugin, "trait_values"):

        def first_value(match_list: MatchList) -> Any:
            result = values(match_list)
            if result is None:
                return None
            for value in result:
                if value is not None:
                    return value
            return None

        return first_value
    value = getattr(plugin, "trait_value", None)
    if callable(value):
        return value  # type: ignore[no-any-return]
    raise TypeError(
        f"{type(plugin).__name__} is not a trait plugin "
        "(it has neither trait_value() nor trait_values())"
    )


def _overrides(plugin: object, name: str) -> bool:
    """True when ``name`` is defined by a class below any base named TraitPluginBase.

    Ceilometer's base class defines ``trait_values`` as a shim over
    ``trait_value``; a subclass that only implements ``trait_value`` must be called
    through that, not through the shim.
    """
    for klass in inspect.getmro(type(plugin)):
        if name in vars(klass):
            return klass.__name__ != "TraitPluginBase"
    return False
