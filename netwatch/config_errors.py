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
    """Maps key paths of a composed YAML document to 1-based line numbers.

    A value's line is where the value starts; ``key_line`` is where its key is written (used for
    unknown keys). ``line`` falls back to the nearest ancestor that exists, so a missing key points
    at the mapping that should hold it. Duplicate mapping keys are collected in ``duplicates``.
    """

    def __init__(self, root: yaml.Node | None) -> None:
        self._value_lines: dict[KeyPath, int] = {}
        self._key_lines: dict[KeyPath, int] = {}
        self.duplicates: list[tuple[KeyPath, int, int]] = []  # path, line, first line
        if root is not None:
            self._walk(root, ())

    def _walk(self, node: yaml.Node, path: KeyPath) -> None:
        self._value_lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
                child = (*path, key)
                if child in self._key_lines:
                    self.duplicates.append((child, key_node.start_mark.line + 1, self._key_lines[child]))
                    continue
                self._key_lines[child] = key_node.start_mark.line + 1
                self._walk(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(item, (*path, index))

    def line(self, path: KeyPath) -> int | None:
        for end in range(len(path), -1, -1):
            found = self._value_lines.get(path[:end])
            if found is not None:
                return found
        return None

    def key_line(self, path: KeyPath) -> int | None:
        return self._key_lines.get(path) or self.line(path)


def parse_yaml(text: str, file: str) -> tuple[Any, LineIndex]:
    """Parse one YAML document safely; returns the data and its line index.

    Raises ``ConfigError`` for syntax errors (with the line) and duplicate keys.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([Problem(file, line, "", f"YAML syntax error: {reason}")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(file, None, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    index = LineIndex(node)
    if index.duplicates:
        raise ConfigError(
            Problem(file, line, format_path(path), f"duplicate key (first written at line {first})")
            for path, line, first in index.duplicates
        )
    return data, index


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
