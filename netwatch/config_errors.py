"""Config and catalog errors that point at the problem: ``FILE:LINE: key.path[2].sub: reason``.

Line numbers come from the YAML node tree (``LineIndex``); pydantic's errors are turned into one
readable problem each (``validation_problems``). No I/O here: callers pass text and paths in.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``("targets", 2, "params", "url")`` → ``targets[2].params.url``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one file. ``line`` is 1-based, None when unknown; ``path`` may be empty
    when the problem concerns the whole file."""

    file: str
    line: int | None
    path: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path}: {self.reason}" if self.path else f"{where}: {self.reason}"


class ConfigError(ValueError):
    """A config (or catalog) that must not start. ``str(error)`` is one ``FILE:LINE: key.path:
    reason`` per problem, one per line; ``problems`` holds them as data."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class LineIndex:
    """Maps key paths of a YAML document to 1-based line numbers, for error messages.

    A value's line is where the value starts; ``key_line`` is where its key is written (used for
    unknown keys). ``line`` falls back to the nearest ancestor that exists, so a missing key points
    at the mapping that should hold it. Built lazily from ``text`` on the first lookup: a valid
    config never needs it, and a 10,000-target file's index alone costs tens of MiB.
    """

    def __init__(self, text: str | None) -> None:
        self._text = text
        self._value_lines: dict[KeyPath, int] | None = None
        self._key_lines: dict[KeyPath, int] = {}

    def _values(self) -> dict[KeyPath, int]:
        if self._value_lines is None:
            self._value_lines = {}
            root = _compose(self._text) if self._text else None
            if root is not None:
                _walk(root, (), self._value_lines, self._key_lines, [])
        return self._value_lines

    def line(self, path: KeyPath) -> int | None:
        values = self._values()
        for end in range(len(path), -1, -1):
            found = values.get(path[:end])
            if found is not None:
                return found
        return None

    def key_line(self, path: KeyPath) -> int | None:
        self._values()
        return self._key_lines.get(path) or self.line(path)


def _loader(text: str) -> yaml.SafeLoader:
    # libyaml (C) when PyYAML has it: the same nodes and marks, several times faster, far less heap.
    loader_class: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader_class(text)


def _compose(text: str) -> yaml.Node | None:
    loader = _loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _walk(
    node: yaml.Node,
    path: KeyPath,
    values: dict[KeyPath, int] | None,
    keys: dict[KeyPath, int] | None,
    duplicates: list[tuple[KeyPath, int, int]],
) -> None:
    """Visit ``node``: record value/key lines when the dicts are given; always collect duplicate
    mapping keys as (path, line, first line)."""
    if values is not None:
        values.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if key in first_lines:
                duplicates.append((child, line, first_lines[key]))
                continue
            first_lines[key] = line
            if keys is not None:
                keys[child] = line
            _walk(value_node, child, values, keys, duplicates)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), values, keys, duplicates)


def _python_syntax_error(text: str, fallback: yaml.MarkedYAMLError) -> yaml.MarkedYAMLError:
    """The error PyYAML's pure-Python loader reports for ``text``; ``fallback`` if it has none."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        return exc
    finally:
        loader.dispose()
    return fallback


def parse_yaml(text: str, file: str) -> tuple[Any, LineIndex]:
    """Parse one YAML document safely; returns the data and its (lazy) line index.

    Raises ``ConfigError`` for syntax errors (with the line) and duplicate keys (PyYAML would
    silently keep the last one).
    """
    loader = _loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as raised:
        # Word syntax errors as the pure-Python parser does, whether or not libyaml is installed.
        exc = _python_syntax_error(text, raised)
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([Problem(file, line, "", f"YAML syntax error: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, None, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    duplicates: list[tuple[KeyPath, int, int]] = []
    if node is not None:
        _walk(node, (), None, None, duplicates)
    if duplicates:
        raise ConfigError(
            Problem(file, line, format_path(path), f"duplicate key (first written at line {first})")
            for path, line, first in duplicates
        )
    return data, LineIndex(text)


def suggest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or ``""``."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold, looking through containers and unions."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    args = typing.get_args(annotation)
    if origin in (dict, Mapping):
        args = args[1:]
    if origin in (list, tuple, Sequence, dict, Mapping, typing.Union, types.UnionType):
        return [model for arg in args for model in _models_in(arg)]
    return []


def _fields_at(root: type[BaseModel], path: KeyPath) -> set[str]:
    """Field names of the model(s) found at ``path`` below ``root`` (for unknown-key hints)."""
    models = [root]
    for part in path:
        if isinstance(part, int):
            continue
        nxt = [
            m
            for model in models
            if part in model.model_fields
            for m in _models_in(model.model_fields[part].annotation)
        ]
        models = nxt or models  # dict keys (e.g. a per-kind map) keep the value's model
    return {name for model in models for name in model.model_fields}


def _show(value: Any) -> str:
    """A value as the YAML author wrote it: ``'abc'``, ``7``, ``true``, ``null``, ``a mapping``."""
    if isinstance(value, dict | list):
        return "a mapping" if isinstance(value, dict) else "a list"
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    return repr(value)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _reason(error: Mapping[str, Any], fields: set[str]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required key missing"
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        valid = ", ".join(sorted(fields))
        return f"unknown key '{key}'{suggest(key, fields)} (valid keys: {valid})"
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {_show(error['input'])}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind in ("value_error", "assertion_error"):
        return message
    message = message.replace("Input should be", "must be", 1)
    return f"{message[:1].lower()}{message[1:]}, got {_show(error['input'])}"


def validation_problems(
    exc: ValidationError,
    model: type[BaseModel],
    index: LineIndex,
    file: str,
    prefix: KeyPath = (),
) -> list[Problem]:
    """One ``Problem`` per pydantic error, for data found at ``prefix`` in the file indexed by
    ``index``; ``model`` is the class validated against. Models must avoid unions other than
    ``X | None`` so pydantic's ``loc`` is exactly the data's key path."""
    problems: list[Problem] = []
    for error in exc.errors():
        rel: KeyPath = tuple(error["loc"])
        path = (*prefix, *rel)
        if error["type"] == "extra_forbidden":
            reason = _reason(error, _fields_at(model, rel[:-1]))
            line = index.key_line(path)
        else:
            reason = _reason(error, set())
            line = index.line(path)
        problem = Problem(file, line, format_path(path), reason)
        if problem not in problems:
            problems.append(problem)
    return problems
