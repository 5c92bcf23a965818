"""JSONPath expressions for trait ``fields``, compiled once into plain functions.

The dialect is the one event definitions were written for (jsonpath-rw plus the
jsonpath-rw-ext extensions Ceilometer's definitions use):

* ``payload.instance_id``, ``$.payload.instance_id``, ``payload['instance_id']``;
* quoted keys containing dots: ``payload.image_meta.'org.openstack__1__os_distro'``;
* ``*`` (every value of an object or item of a list), ``[0]``, ``[-1]``, ``[1:3]``,
  ``[*]``, and ``..name`` (that key at any depth);
* filters: ``payload.glance_metadata[?key=image_id].value``
  (operators ``= == != < <= > >= =~``; ``&`` joins conditions; ``[?key]`` tests
  presence; a bare word on the right is a string);
* extensions in back-quotes: ``publisher_id.`split(., 1, 1)``` (separator, segment,
  max splits, ``-1`` for no limit), ``.`sub(/regex/, replacement)```, ``.`len```;
* unions: ``a|b`` or ``(a)|(b)``; a YAML list of paths means the same.

Compiling returns a :class:`Path`. ``Path.first(root)`` gives the first non-null
match (what a trait without a plugin uses) and is the hot path: a chain of plain
keys becomes a specialised closure that does nothing but ``dict.get``.
``Path.matches(root)`` gives every non-null match with its path string, the input
trait plugins receive.

Syntax errors raise :class:`JSONPathError` with the expression and the position.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["JSONPathError", "Path", "compile_path", "compile_union"]

Getter = Callable[[Any], Any]


class JSONPathError(ValueError):
    """A ``fields`` expression is not valid JSONPath."""


# --------------------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class _Field:
    name: str


@dataclass(frozen=True, slots=True)
class _Wild:
    pass


@dataclass(frozen=True, slots=True)
class _Index:
    index: int


@dataclass(frozen=True, slots=True)
class _Slice:
    start: int | None
    stop: int | None


@dataclass(frozen=True, slots=True)
class _Descend:
    name: str | None  # None: every descendant value


@dataclass(frozen=True, slots=True)
class _Filter:
    test: Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class _Ext:
    label: str
    func: Callable[[Any], Any]  # returns None when it does not apply


_Step = _Field | _Wild | _Index | _Slice | _Descend | _Filter | _Ext

_NAME = re.compile(r"[A-Za-z0-9_@#\-]+")
_INT = re.compile(r"-?\d+")
_SPLIT = re.compile(r"split\((.+?),\s*(-?\d+),\s*(-?\d+)\)\Z", re.S)
_SUB = re.compile(r"sub\(/(.*)/,\s*(.*)\)\Z", re.S)
_COMPARE = re.compile(r"\s*(=~|==|!=|<=|>=|=|<|>)\s*")


# --------------------------------------------------------------------------- parser


class _Parser:
    """Recursive-descent parser over one expression string."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> JSONPathError:
        return JSONPathError(
            f"invalid JSONPath {self.text!r} at position {self.pos}: {message}"
        )

    def peek(self, token: str) -> bool:
        return self.text.startswith(token, self.pos)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def parse_union(self) -> list[list[_Step]]:
        alternatives = [*self.parse_alternative()]
        self.skip_space()
        while self.peek("|"):
            self.pos += 1
            alternatives.extend(self.parse_alternative())
            self.skip_space()
        return alternatives

    def parse_alternative(self) -> list[list[_Step]]:
        self.skip_space()
        if self.peek("("):
            self.pos += 1
            inner = self.parse_union()
            self.skip_space()
            if not self.peek(")"):
                raise self.error("expected ')'")
            self.pos += 1
            tail = self.parse_chain(started=True)
            return [steps + tail for steps in inner]
        return [self.parse_chain(started=False)]

    def parse_chain(self, *, started: bool) -> list[_Step]:
        steps: list[_Step] = []
        if not started:
            if self.peek("$") or (
                self.peek("@") and not self.text[self.pos + 1 :][:1].isalnum()
            ):
                self.pos += 1
                started = True
            elif self.peek("["):
                pass
            else:
                steps.append(self.parse_member())
                started = True
        while self.pos < len(self.text):
            if self.peek(".."):
                self.pos += 2
                if self.peek("*"):
                    self.pos += 1
                    steps.append(_Descend(None))
                else:
                    member = self.parse_member()
                    if not isinstance(member, _Field):
                        raise self.error("'..' must be followed by a key or '*'")
                    steps.append(_Descend(member.name))
            elif self.peek("."):
                self.pos += 1
                if self.peek("["):
                    continue
                steps.append(self.parse_member())
            elif self.peek("["):
                steps.append(self.parse_bracket())
            elif self.peek("`"):
                steps.append(self.parse_extension())
            else:
                break
        if not steps and not started:
            raise self.error("empty path")
        return steps

    def parse_member(self) -> _Step:
        if self.pos >= len(self.text):
            raise self.error("expected a key")
        char = self.text[self.pos]
        if char == "*":
            self.pos += 1
            return _Wild()
        if char in "'\"":
            return _Field(self.parse_quoted())
        if char == "`":
            return self.parse_extension()
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self.error(f"unexpected {char!r}, expected a key")
        self.pos = match.end()
        return _Field(match.group())

    def parse_quoted(self) -> str:
        quote = self.text[self.pos]
        end = self.text.find(quote, self.pos + 1)
        if end < 0:
            raise self.error("unterminated quoted key")
        value = self.text[self.pos + 1 : end]
        self.pos = end + 1
        return value

    def parse_bracket(self) -> _Step:
        self.pos += 1  # '['
        self.skip_space()
        if self.peek("?"):
            return self.parse_filter()
        end = self.text.find("]", self.pos)
        if end < 0:
            raise self.error("unterminated '['")
        content = self.text[self.pos : end].strip()
        start = self.pos
        self.pos = end + 1
        if content == "*":
            return _Wild()
        if _INT.fullmatch(content):
            return _Index(int(content))
        if ":" in content:
            parts = [p.strip() for p in content.split(":")]
            if len(parts) == 2 and all(p == "" or _INT.fullmatch(p) for p in parts):
                return _Slice(
                    int(parts[0]) if parts[0] else None,
                    int(parts[1]) if parts[1] else None,
                )
        if len(content) >= 2 and content[0] == content[-1] and content[0] in "'\"":
            return _Field(content[1:-1])
        if _NAME.fullmatch(content):
            return _Field(content)
        self.pos = start
        raise self.error(f"cannot read [{content}]")

    def parse_filter(self) -> _Step:
        self.pos += 1  # '?'
        depth = 1
        i = self.pos
        quote = ""
        while i < len(self.text):
            char = self.text[i]
            if quote:
                if char == quote:
                    quote = ""
            elif char in "'\"":
                quote = char
            elif char == "[":
                depth += 1
            elif char == "]":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        else:
            raise self.error("unterminated filter '[?'")
        body = self.text[self.pos : i].strip()
        self.pos = i + 1
        if body.startswith("(") and body.endswith(")"):
            body = body[1:-1].strip()
        tests = [self.compile_condition(part.strip()) for part in body.split("&")]
        if len(tests) == 1:
            return _Filter(tests[0])
        return _Filter(lambda item: all(test(item) for test in tests))

    def compile_condition(self, text: str) -> Callable[[Any], bool]:
        if not text:
            raise self.error("empty filter condition")
        match = _COMPARE.search(text)
        target_text = (text if match is None else text[: match.start()]).strip()
        if target_text.startswith("@."):
            target_text = target_text[2:]
        elif target_text == "@":
            target_text = ""
        target: Getter = (
            (lambda item: item) if not target_text else compile_path(target_text).first
        )
        if match is None:
            return lambda item: target(item) is not None
        op = match.group(1)
        raw = text[match.end() :].strip()
        if op == "=~":
            try:
                pattern = re.compile(raw.strip("'\"/"))
            except re.error as exc:
                raise self.error(f"bad regular expression {raw!r}: {exc}") from None
            return lambda item: (
                isinstance(v := target(item), str) and bool(pattern.search(v))
            )
        expected = _literal(raw)
        compare: Callable[[Any, Any], bool] = {
            "=": operator.eq,
            "==": operator.eq,
            "!=": operator.ne,
            "<": operator.lt,
            "<=": operator.le,
            ">": operator.gt,
            ">=": operator.ge,
        }[op]

        def test(item: Any) -> bool:
            value = target(item)
            if value is None:
                return False
            try:
                return bool(compare(value, expected))
            except TypeError:
                return False

        return test

    def parse_extension(self) -> _Step:
        end = self.text.find("`", self.pos + 1)
        if end < 0:
            raise self.error("unterminated '`'")
        body = self.text[self.pos + 1 : end].strip()
        self.pos = end + 1
        split = _SPLIT.match(body)
        if split:
            sep, segment, max_split = (
                split.group(1),
                int(split.group(2)),
                int(split.group(3)),
            )
            if sep == "":
                raise self.error("split() needs a separator")

            def do_split(value: Any) -> Any:
                if not isinstance(value, str):
                    return None
                parts = value.split(sep, max_split)
                try:
                    return parts[segment]
                except IndexError:
                    return None

            return _Ext(body, do_split)
        sub = _SUB.match(body)
        if sub:
            try:
                pattern = re.compile(sub.group(1))
            except re.error as exc:
                raise self.error(f"bad regular expression in sub(): {exc}") from None
            replacement = sub.group(2).strip()
            return _Ext(
                body,
                lambda v: pattern.sub(replacement, v) if isinstance(v, str) else None,
            )
        if body == "len":
            return _Ext(
                body, lambda v: len(v) if isinstance(v, (str, list, dict)) else None
            )
        if body in ("this", "@"):
            return _Ext(body, lambda v: v)
        raise self.error(
            f"unknown extension `{body}` (known: split(sep, segment, max_split), "
            "sub(/regex/, replacement), len)"
        )


def _literal(raw: str) -> Any:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    for convert in (int, float):
        try:
            return convert(raw)
        except ValueError:
            pass
    return raw


# --------------------------------------------------------------------------- evaluation


def _key_getter(keys: tuple[str, ...]) -> Getter:
    """A getter for a chain of plain keys: the hot path, so specialised by length."""
    if len(keys) == 1:
        (a,) = keys

        def get1(root: Any) -> Any:
            return root.get(a) if isinstance(root, dict) else None

        return get1
    if len(keys) == 2:
        a, b = keys

        def get2(root: Any) -> Any:
            if isinstance(root, dict):
                value = root.get(a)
                if isinstance(value, dict):
                    return value.get(b)
            return None

        return get2
    if len(keys) == 3:
        a, b, c = keys

        def get3(root: Any) -> Any:
            if isinstance(root, dict):
                value = root.get(a)
                if isinstance(value, dict):
                    value = value.get(b)
                    if isinstance(value, dict):
                        return value.get(c)
            return None

        return get3

    def get_n(root: Any) -> Any:
        value = root
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return get_n


def _walk(
    steps: Sequence[_Step], i: int, value: Any, path: str
) -> Iterator[tuple[str, Any]]:
    """Yield ``(path, value)`` for every match of ``steps[i:]`` under ``value``."""
    if value is None:
        return
    if i == len(steps):
        yield path, value
        return
    step = steps[i]
    nxt = i + 1
    if isinstance(step, _Field):
        if isinstance(value, dict) and step.name in value:
            yield from _walk(steps, nxt, value[step.name], _join(path, step.name))
    elif isinstance(step, _Wild):
        yield from _children(steps, nxt, value, path)
    elif isinstance(step, _Index):
        if isinstance(value, list) and -len(value) <= step.index < len(value):
            index = step.index % len(value)
            yield from _walk(steps, nxt, value[index], _join(path, f"[{index}]"))
    elif isinstance(step, _Slice):
        if isinstance(value, list):
            for index in range(*slice(step.start, step.stop).indices(len(value))):
                yield from _walk(steps, nxt, value[index], _join(path, f"[{index}]"))
    elif isinstance(step, _Descend):
        yield from _descend(steps, nxt, step.name, value, path)
    elif isinstance(step, _Filter):
        if isinstance(value, list):
            for index, item in enumerate(value):
                if step.test(item):
                    yield from _walk(steps, nxt, item, _join(path, f"[{index}]"))
    else:  # _Ext
        yield from _walk(steps, nxt, step.func(value), f"{path}.`{step.label}`")


def _children(
    steps: Sequence[_Step], i: int, value: Any, path: str
) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(steps, i, child, _join(path, str(key)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(steps, i, child, _join(path, f"[{index}]"))


def _descend(
    steps: Sequence[_Step], i: int, name: str | None, value: Any, path: str
) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        items: Iterator[tuple[str, Any]] = ((str(k), v) for k, v in value.items())
        if name is not None and name in value:
            yield from _walk(steps, i, value[name], _join(path, name))
    elif isinstance(value, list):
        items = ((f"[{n}]", v) for n, v in enumerate(value))
    else:
        return
    for label, child in items:
        if name is None:
            yield from _walk(steps, i, child, _join(path, label))
        yield from _descend(steps, i, name, child, _join(path, label))


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


# --------------------------------------------------------------------------- public


class Path:
    """A compiled JSONPath expression (possibly a union of alternatives)."""

    __slots__ = ("_alternatives", "first", "text")

    def __init__(self, text: str, alternatives: list[list[_Step]]) -> None:
        self.text = text
        self._alternatives = alternatives
        self.first: Getter = _first_getter(alternatives)

    def matches(self, root: Any) -> list[tuple[str, Any]]:
        """Every non-null match, in order, as ``(path string, value)`` tuples."""
        found: list[tuple[str, Any]] = []
        for steps in self._alternatives:
            found.extend(_walk(steps, 0, root, ""))
        return found

    def key_chains(self) -> list[tuple[str, ...]] | None:
        """Each alternative's keys when every one is a chain of plain keys."""
        chains = []
        for steps in self._alternatives:
            if not all(isinstance(step, _Field) for step in steps):
                return None
            chains.append(
                tuple(step.name for step in steps if isinstance(step, _Field))
            )
        return chains

    def __repr__(self) -> str:
        return f"Path({self.text!r})"


def _first_getter(alternatives: list[list[_Step]]) -> Getter:
    getters = [_alternative_getter(steps) for steps in alternatives]
    if len(getters) == 1:
        return getters[0]
    getters_t = tuple(getters)

    def first_of(root: Any) -> Any:
        for get in getters_t:
            value = get(root)
            if value is not None:
                return value
        return None

    return first_of


def _alternative_getter(steps: list[_Step]) -> Getter:
    plain = 0
    while plain < len(steps) and isinstance(steps[plain], _Field):
        plain += 1
    keys = tuple(step.name for step in steps[:plain] if isinstance(step, _Field))
    rest = steps[plain:]
    if not rest:
        return _key_getter(keys) if keys else (lambda root: root)
    if all(isinstance(step, _Ext) for step in rest):
        # ``key.key.`split(...)```: plain lookup, then the extension functions.
        head = _key_getter(keys) if keys else (lambda root: root)
        funcs = tuple(step.func for step in rest if isinstance(step, _Ext))

        def get_ext(root: Any) -> Any:
            value = head(root)
            for func in funcs:
                if value is None:
                    return None
                value = func(value)
            return value

        return get_ext

    def get_walk(root: Any) -> Any:
        for _path, value in _walk(steps, 0, root, ""):
            return value
        return None

    return get_walk


def compile_path(text: str, *, rewrite: Callable[[str], str] | None = None) -> Path:
    """Compile one expression string (which may itself be a ``|`` union).

    ``rewrite``, when given, maps the first key of each alternative to another
    key (Ceilometer compatibility uses it to read ``ctxt.x`` from ``_context_x``).
    """
    if not isinstance(text, str) or not text.strip():
        raise JSONPathError(f"JSONPath must be a non-empty string, got {text!r}")
    parser = _Parser(text)
    alternatives = parser.parse_union()
    parser.skip_space()
    if parser.pos != len(text):
        raise parser.error(f"unexpected {text[parser.pos]!r}")
    if rewrite is not None:
        alternatives = [_rewrite_head(steps, rewrite) for steps in alternatives]
    return Path(text, alternatives)


def compile_union(
    texts: Sequence[str], *, rewrite: Callable[[str], str] | None = None
) -> Path:
    """Compile a list of expressions as one union, in order."""
    alternatives: list[list[_Step]] = []
    for text in texts:
        alternatives.extend(compile_path(text, rewrite=rewrite)._alternatives)
    return Path(" | ".join(texts), alternatives)


def _rewrite_head(steps: list[_Step], rewrite: Callable[[str], str]) -> list[_Step]:
    if (
        len(steps) >= 2
        and isinstance(steps[0], _Field)
        and isinstance(steps[1], _Field)
    ):
        joined = rewrite(f"{steps[0].name}.{steps[1].name}")
        if joined != f"{steps[0].name}.{steps[1].name}":
            return [_Field(joined), *steps[2:]]
    return steps
