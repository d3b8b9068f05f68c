"""Target catalogs: the built-in ones shipped as YAML in this package, and user catalog files.

A catalog file (see ``docs/catalog.md``) lists entries; each entry is a host probed with one or
more kinds and expands to targets with stable ids ``<entry id>/<kind>`` (``kaspi.kz/http``).
Loading reads files only; it never sends traffic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netwatch.catalog.schema import CatalogFileModel, EntryModel
from netwatch.catalog.targets import TargetSpec, build_target, needs_resolvers
from netwatch.config_errors import ConfigError, LineIndex, Problem, parse_yaml, validation_problems

__all__ = [
    "Catalog",
    "TargetSpec",
    "build_target",
    "builtin_names",
    "load_builtin",
    "load_catalog_file",
    "needs_resolvers",
    "parse_catalog",
]

_HERE = Path(__file__).parent


def builtin_names() -> tuple[str, ...]:
    """Names of the catalogs shipped with netwatch, sorted."""
    return tuple(sorted(path.stem for path in _HERE.glob("*.yaml")))


@dataclass(frozen=True, slots=True)
class Catalog:
    """A loaded catalog: its targets with parameters not yet validated (see ``build_target``)."""

    name: str
    description: str
    file: str
    targets: tuple[TargetSpec, ...]


def _default_params(kind: str, host: str) -> dict[str, Any]:
    if kind == "dns":
        return {"name": host}
    if kind == "http":
        return {"url": f"https://{host}/"}
    if kind == "tcp":
        return {"host": host, "port": 443}
    return {}


def _expand(entry: EntryModel, position: int, file: str, index: LineIndex, name: str) -> list[TargetSpec]:
    base = entry.id or entry.host
    return [
        TargetSpec(
            id=f"{base}/{kind}",
            kind=kind,
            params={**_default_params(kind, entry.host), **entry.params.get(kind, {})},
            labels=entry.labels.to_labels(),
            file=file,
            index=index,
            where=("entries", position),
            params_at=("entries", position, "params", kind),
            origin=f"catalog '{name}' entries[{position}]",
            source=entry.source,
            note=entry.note,
            verify=entry.verify,
        )
        for kind in entry.probes
    ]


def catalog_from_data(data: Any, file: str, index: LineIndex) -> Catalog:
    """Validate parsed catalog data; raises ``ConfigError`` listing every problem."""
    try:
        model = CatalogFileModel.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, CatalogFileModel, index, file)) from None
    specs: list[TargetSpec] = []
    seen: dict[str, TargetSpec] = {}
    problems: list[Problem] = []
    for position, entry in enumerate(model.entries):
        for spec in _expand(entry, position, file, index, model.name):
            if spec.id in seen:
                reason = f"duplicate target id '{spec.id}' (also {seen[spec.id].origin})"
                problems.append(spec.problem((*spec.where, "id"), reason))
                continue
            seen[spec.id] = spec
            specs.append(spec)
    if problems:
        raise ConfigError(problems)
    return Catalog(model.name, model.description, file, tuple(specs))


def parse_catalog(text: str, file: str) -> Catalog:
    """Parse and validate a catalog file's text; ``file`` names it in errors."""
    data, index = parse_yaml(text, file)
    return catalog_from_data(data, file, index)


def load_catalog_file(path: Path) -> Catalog:
    """Read a catalog file; raises ``ConfigError`` when it cannot be read or is invalid."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, "", f"cannot read catalog: {exc.strerror}")]) from None
    return parse_catalog(text, str(path))


def load_builtin(name: str) -> Catalog:
    """A built-in catalog by name (``kazakhstan``, ``controls``); ``KeyError`` if unknown."""
    if name not in builtin_names():
        raise KeyError(name)
    return load_catalog_file(_HERE / f"{name}.yaml")


def catalog_to_data(name: str, description: str, entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The YAML-ready form of a catalog file (used by importers that write one)."""
    return {"name": name, "description": description, "entries": [dict(entry) for entry in entries]}
