"""One generated function per event definition that extracts all of its traits.

Calling each trait's extractor in turn costs a few Python calls per trait (the
extractor, its getter, the converter) and looks up ``payload`` again for every
trait under it: with 25 traits an event, that was most of the distiller's own
time. :func:`compile_traits` writes the source of one function for a whole
trait list instead, and compiles it once per definition:

* every object a plain key chain passes through (``payload``,
  ``payload.image_meta``) is looked up once, at the top;
* a trait whose alternatives are all plain key chains becomes inline
  ``dict.get`` calls, the first non-null one winning, as :class:`Path.first`;
* text that is already a string and integers in range are stored as they are,
  a timestamp string converted before as its earlier value; other values go
  through the trait type's converter;
* a ``split`` plugin over plain key chains takes its piece inline (its cache
  of pieces, the first match that has one winning, as the plugin does);
* any other trait (a filter, a wildcard, an extension, a plugin) calls its own
  extractor, unchanged.

The function returns the traits, in definition order, and the traits that
could not be converted as ``(name, reason)`` pairs (``None`` when there are
none): the same result as the loop over :attr:`TraitDefinition.extract`, which
the tests check on the whole corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from distiller.convert import (
    CONVERTERS,
    INT64_MAX,
    INT64_MIN,
    TraitConversionError,
    cached_datetime,
)
from distiller.event import TraitType, TraitValue
from distiller.plugins.split import SplitPlugin

if TYPE_CHECKING:
    from distiller.definitions import TraitDefinition

__all__ = ["TraitsExtractor", "compile_traits"]

#: ``body -> (traits, failures)``; failures are ``(trait name, reason)`` pairs.
TraitsExtractor = Callable[
    [dict[str, Any]], tuple[dict[str, TraitValue], list[tuple[str, str]] | None]
]


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.names: dict[str, Any] = {
            "TraitConversionError": TraitConversionError,
            "_dict": dict,
            "_str": str,
            "_int": int,
            "_cached": cached_datetime,
        }
        self._objects: dict[tuple[str, ...], str] = {(): "body"}

    def constant(self, value: Any, prefix: str) -> str:
        name = f"{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def parent(self, keys: tuple[str, ...]) -> str:
        """The variable holding the object at ``keys`` (or None), defined once."""
        known = self._objects.get(keys)
        if known is not None:
            return known
        above = self.parent(keys[:-1])
        name = f"o{len(self._objects)}"
        self._objects[keys] = name
        self.lines.append(f"    {name} = {self._get(above, keys[-1])}")
        self.lines.append(
            f"    if {name} is not None and not isinstance({name}, _dict):"
            f" {name} = None"
        )
        return name

    def lookup(self, keys: tuple[str, ...]) -> str:
        """An expression for the value at ``keys`` (None where a step is missing)."""
        if not keys:
            return "body"
        return self._get(self.parent(keys[:-1]), keys[-1])

    @staticmethod
    def _get(above: str, key: str) -> str:
        if above == "body":  # a dict always (the distiller checks)
            return f"body.get({key!r})"
        return f"({above}.get({key!r}) if {above} is not None else None)"


def _guarded(call: str, name: str, indent: str) -> list[str]:
    """Lines storing ``call``'s value as trait ``name`` (unless None), or
    noting its conversion failure."""
    return [
        f"{indent}try:",
        f"{indent}    v = {call}",
        f"{indent}except TraitConversionError as exc:",
        f"{indent}    failed = (failed or []) + [({name}, _str(exc))]",
        f"{indent}else:",
        f"{indent}    if v is not None: t[{name}] = v",
    ]


def _split_plugin(trait: TraitDefinition) -> SplitPlugin | None:
    """The trait's plugin when it is exactly the built-in ``split`` (whose
    piece of a string the generated code takes itself), else None."""
    owner = getattr(trait.plugin, "__self__", None)
    if owner.__class__ is SplitPlugin and (
        getattr(trait.plugin, "__func__", None) is SplitPlugin.trait_value
    ):
        return owner
    return None


def _converted(writer: _Writer, trait: TraitDefinition, name: str) -> list[str]:
    """Lines storing ``v`` (unless None) as trait ``name``, converted to its type:
    as it is when it already has the type, else through the type's converter."""
    convert = writer.constant(CONVERTERS[trait.trait_type], "c")
    stored = "v"
    if trait.trait_type is TraitType.TEXT:
        fast = "v.__class__ is _str"
    elif trait.trait_type is TraitType.INT:
        fast = f"v.__class__ is _int and {INT64_MIN} <= v <= {INT64_MAX}"
    elif trait.trait_type is TraitType.DATETIME:
        fast, stored = "v.__class__ is _str and (d := _cached(v)) is not None", "d"
    else:
        fast = "False"
    return [
        "    if v is not None:",
        f"        if {fast}: t[{name}] = {stored}",
        "        else:",
        *_guarded(f"{convert}(v)", name, "            "),
    ]


def compile_traits(traits: Sequence[TraitDefinition]) -> TraitsExtractor:
    """The generated extractor of ``traits`` (see the module's description)."""
    writer = _Writer()
    head = writer.lines
    body: list[str] = []
    for trait in traits:
        name = repr(trait.name)
        chains = trait.key_chains()
        split = _split_plugin(trait)
        if chains is not None and split is not None:
            piece = writer.constant(split._piece, "s")
            for position, keys in enumerate(chains):
                indent = "    "
                if position:  # only while no field before had the segment
                    body.append("    if v is None:")
                    indent = "        "
                body += [
                    f"{indent}v = {writer.lookup(keys)}",
                    f"{indent}if v is not None: v = {piece}("
                    "v if v.__class__ is _str else _str(v))",
                ]
            body += _converted(writer, trait, name)
            continue
        if chains is not None and trait.apply_plugin is not None:
            # The plugin's input inline: (path, value) of each non-null match.
            apply = writer.constant(trait.apply_plugin, "p")
            body.append("    m = []")
            for keys in chains:
                body += [
                    f"    v = {writer.lookup(keys)}",
                    f"    if v is not None: m.append(({'.'.join(keys)!r}, v))",
                ]
            body += _guarded(f"{apply}(m)", name, "    ")
            continue
        if chains is None:
            extract = writer.constant(trait.extract, "x")
            body += _guarded(f"{extract}(body)", name, "    ")
            continue
        first, *others = chains
        body.append(f"    v = {writer.lookup(first)}")
        for keys in others:
            body.append(f"    if v is None: v = {writer.lookup(keys)}")
        body += _converted(writer, trait, name)
    source = "\n".join(
        [
            "def extract_traits(body):",
            "    t = {}",
            "    failed = None",
            *head,
            *body,
            "    return t, failed",
            "",
        ]
    )
    namespace = dict(writer.names)
    exec(compile(source, "<event definition traits>", "exec"), namespace)
    extractor: TraitsExtractor = namespace["extract_traits"]
    extractor.__doc__ = source  # what it does, for a debugger
    return extractor
