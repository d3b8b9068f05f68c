"""YAML → validated, frozen ``Config``, once, at load.

Unknown keys are rejected; every problem is reported as ``FILE:LINE: key.path: reason``, one per
line, all at once (``ConfigError``). Relative paths resolve against the config file's directory.
Loading reads files (the config, catalogs, a CA file) and the environment; it never touches the
network. The schema is in ``netwatch.config_schema`` and documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from netwatch.catalog import (
    Catalog,
    TargetSpec,
    build_target,
    load_builtin,
    load_catalog_file,
    needs_resolvers,
)
from netwatch.catalog.citizenlab import load_citizenlab
from netwatch.config_errors import (
    ConfigError,
    KeyPath,
    LineIndex,
    Problem,
    format_path,
    parse_yaml,
    validation_problems,
)
from netwatch.config_schema import CatalogSourceModel, ConfigModel
from netwatch.detect.thresholds import Thresholds
from netwatch.egress import ENV_VAR, EgressPolicy
from netwatch.model import Target, Vantage
from netwatch.notify.settings import Notifications
from probes.dnsquery import ResolverSpec
from probes.env import BlockpageFingerprint, ProbeEnv

__all__ = ["Config", "ConfigError", "load_config", "parse_config"]


@dataclass(frozen=True, slots=True)
class Config:
    """Everything an agent needs to run, validated.

    ``listen_address``/``listen_port``: where ``/metrics``, ``/healthz`` and the API are served.
    ``concurrency``: probes running at once. ``jitter_s``: up to this many seconds of random delay
    added to each scheduled run. ``targets``: catalog targets and the user's own, ids unique.
    ``measurements_out``: JSON Lines file receiving every measurement, or None.
    ``data_dir``: where the store keeps its SQLite database.
    ``resolvers``: the default resolvers (already filled into the targets that needed them).
    ``catalogs``: names of the catalogs selected, in order.
    ``detection``: the detector's thresholds (the ``detection:`` section; docs/detection.md).
    ``retention_days``: raw measurements older than this many days are deleted (those an outage
    cites are kept with it), every ``retention_interval_s`` seconds.
    ``notifications``: native notification destinations, grouping, rate limit and maintenance
    windows (the ``notifications:`` section; ``netwatch.notify``).
    """

    source: Path | None
    vantage: Vantage
    egress: EgressPolicy
    probe_env: ProbeEnv
    targets: tuple[Target, ...]
    listen_address: str = "127.0.0.1"
    listen_port: int = 9784
    concurrency: int = 64
    jitter_s: float = 5.0
    measurements_out: Path | None = None
    data_dir: Path = Path("netwatch-data")
    resolvers: tuple[ResolverSpec, ...] = ()
    catalogs: tuple[str, ...] = ()
    detection: Thresholds = field(default_factory=Thresholds)
    retention_days: int = 30
    retention_interval_s: float = 86_400.0
    notifications: Notifications = field(default_factory=Notifications)

    def summary(self) -> str:
        """A few human-readable lines: vantage, listen address, egress, targets by kind and role."""
        kinds = Counter(target.kind for target in self.targets)
        roles = Counter(target.labels.role.value for target in self.targets)
        return "\n".join(
            [
                f"config: {self.source}",
                f"vantage: {self.vantage.id} ({self.vantage.position.value})",
                f"listen: {self.listen_address}:{self.listen_port}",
                f"egress allowed to: {self.egress.describe()}",
                f"catalogs: {', '.join(self.catalogs) or '(none)'}",
                f"targets: {len(self.targets)} ("
                + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
                + "; "
                + ", ".join(f"{role} {n}" for role, n in sorted(roles.items()))
                + ")",
            ]
        )


def load_config(path: Path | str, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the config file at ``path``; raises ``ConfigError`` listing every problem.

    ``environ`` (default ``os.environ``) supplies ``NETWATCH_ALLOWED_NETWORKS``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(path), None, "", f"cannot read config: {exc}")]) from None
    return parse_config(text, path, environ=environ)


def parse_config(
    text: str, source: Path | str = "<config>", *, environ: Mapping[str, str] | None = None
) -> Config:
    """Validate config ``text``; ``source`` names it in errors and anchors relative paths."""
    file = str(source)
    data, index = parse_yaml(text, file)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(file, 1, "", "expected a mapping of keys at the top level")])
    try:
        model = ConfigModel.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_problems(exc, ConfigModel, index, file)) from None
    loader = _Loader(model, file, index, Path(source).absolute().parent)
    egress = loader.egress(environ)
    probe_env = loader.probe_env(egress)
    targets = loader.targets()
    if loader.problems:
        raise ConfigError(loader.problems)
    return Config(
        source=Path(source),
        vantage=Vantage(model.vantage.id, model.vantage.position),
        egress=egress,
        probe_env=probe_env,
        targets=targets,
        listen_address=model.listen.address,
        listen_port=model.listen.port,
        concurrency=model.probing.concurrency,
        jitter_s=model.probing.jitter,
        measurements_out=loader.path(model.measurements_out) if model.measurements_out else None,
        data_dir=loader.path(model.data_dir),
        resolvers=model.resolvers,
        catalogs=loader.catalog_names,
        detection=model.detection,
        retention_days=model.retention.measurements_days,
        retention_interval_s=model.retention.interval,
        notifications=model.notifications,
    )


class _Loader:
    """Applies the cross-field rules to a schema-valid config, collecting problems."""

    def __init__(self, model: ConfigModel, file: str, index: LineIndex, base: Path) -> None:
        self.model = model
        self.file = file
        self.index = index
        self.base = base
        self.problems: list[Problem] = []
        self.catalog_names: tuple[str, ...] = ()

    def path(self, value: str) -> Path:
        return self.base / Path(value).expanduser()

    def problem(self, path: KeyPath, reason: str) -> None:
        self.problems.append(Problem(self.file, self.index.line(path), format_path(path), reason))

    def egress(self, environ: Mapping[str, str] | None) -> EgressPolicy:
        try:
            env = dict(environ) if environ is not None else None
            return EgressPolicy.from_config(self.model.allowed_networks, env)
        except ValueError as exc:
            self.problem(("allowed_networks",), f"{ENV_VAR} (which overrides this key): {exc}")
            return EgressPolicy.loopback()

    def probe_env(self, egress: EgressPolicy) -> ProbeEnv:
        probing = self.model.probing
        ca_file = None
        if probing.ca_file is not None:
            ca_path = self.path(probing.ca_file)
            if not ca_path.is_file():
                self.problem(("probing", "ca_file"), f"file not found: {ca_path}")
            ca_file = str(ca_path)
        return ProbeEnv(
            egress=egress,
            ca_file=ca_file,
            blockpage_addresses=frozenset(ipaddress.ip_address(a) for a in probing.blockpages.addresses),
            blockpage_fingerprints=tuple(
                BlockpageFingerprint(**fp.model_dump()) for fp in probing.blockpages.fingerprints
            ),
            bogon_exempt=tuple(ipaddress.ip_network(n) for n in probing.bogon_exempt_networks),
            user_agent=probing.user_agent,
        )

    def _catalog(self, source: CatalogSourceModel) -> Catalog:
        if source.name is not None:
            return load_builtin(source.name)
        if source.citizenlab is not None:
            return load_citizenlab(self.path(source.citizenlab), source.country, source.category_map)
        assert source.file is not None  # guaranteed by CatalogSourceModel
        return load_catalog_file(self.path(source.file))

    def _catalog_specs(self) -> list[tuple[KeyPath, TargetSpec]]:
        selected: list[tuple[KeyPath, TargetSpec]] = []
        first: dict[str, int] = {}
        for position, source in enumerate(self.model.catalogs):
            where: KeyPath = ("catalogs", position)
            try:
                catalog = self._catalog(source)
            except ConfigError as exc:
                self.problems.extend(exc.problems)
                continue
            if catalog.name in first:
                also = f"catalogs[{first[catalog.name]}]"
                self.problem(where, f"catalog '{catalog.name}' selected twice (also {also})")
                continue
            first[catalog.name] = position
            needy = sum(needs_resolvers(spec.kind, spec.params) for spec in catalog.targets)
            if needy and not self.model.resolvers:
                self.problem(
                    where,
                    f"catalog '{catalog.name}' has {needy} targets that resolve names and no resolvers "
                    "are configured: add top-level 'resolvers'",
                )
                continue
            selected.extend((where, spec) for spec in catalog.targets)
        self.catalog_names = tuple(first)
        return selected

    def _user_specs(self) -> list[tuple[KeyPath, TargetSpec]]:
        specs: list[tuple[KeyPath, TargetSpec]] = []
        for position, target in enumerate(self.model.targets):
            where: KeyPath = ("targets", position)
            spec = TargetSpec(
                id=target.id,
                kind=target.kind,
                params=target.params,
                labels=target.labels.to_labels(),
                file=self.file,
                index=self.index,
                where=where,
                params_at=(*where, "params"),
                origin=format_path(where),
                interval_s=target.interval,
                timeout_s=target.timeout,
                source=target.source,
                note=target.note,
            )
            specs.append(((*where, "id"), spec))
        return specs

    def targets(self) -> tuple[Target, ...]:
        probing = self.model.probing
        seen: dict[str, TargetSpec] = {}
        targets: list[Target] = []
        for reported_at, spec in [*self._catalog_specs(), *self._user_specs()]:
            if spec.id in seen:
                mine = "" if reported_at[0] == "targets" else f" from {_origin(spec)}"
                also = _origin(seen[spec.id])
                self.problem(reported_at, f"duplicate target id '{spec.id}'{mine} (also {also})")
                continue
            seen[spec.id] = spec
            target, problems = build_target(spec, self.model.resolvers, probing.interval, probing.timeout)
            self.problems.extend(problems)
            if target is not None:
                targets.append(target)
        return tuple(targets)


def _origin(spec: TargetSpec) -> str:
    """Where a target came from, in words; the config's own targets with their line (looked up
    only here, on an error, so a valid file never builds the line index)."""
    if spec.where[0] == "targets":
        return f"{spec.origin} at line {spec.index.line(spec.where)}"
    return spec.origin
