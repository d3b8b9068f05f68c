"""The deployment bundle: Dockerfile, compose file, Kubernetes manifests and systemd unit.

Docker has no engine here, so the compose file is checked for consistency with the files it mounts and the
configs it wires together (service names, ports, paths, vantage labels), Prometheus' side with ``promtool``,
and the whole file with ``docker compose config`` where the client has the compose plugin. Kubernetes
manifests are validated against the Kubernetes schemas (``kubernetes-validate``); the ServiceMonitor is a CRD,
so its required fields are checked here. The systemd unit goes through ``systemd-analyze verify``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from netwatch.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "kubernetes"
UNIT = DEPLOY / "systemd" / "netwatch.service"
DOCKERFILE = DEPLOY / "Dockerfile"
AGENT_PORT = 9784
SERVICES = {"netwatch-inside", "netwatch-outside", "prometheus", "alertmanager", "grafana"}


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd, env=env
    )
    assert result.returncode == 0, f"{args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout + result.stderr


# --- Dockerfile ---------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_is_multi_stage_non_root_with_a_health_check() -> None:
    instructions = dockerfile_instructions()
    stages = [arg for op, arg in instructions if op == "FROM"]
    assert len(stages) >= 2, "build and runtime stages"
    (user,) = [arg for op, arg in instructions if op == "USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root user (Kubernetes runAsNonRoot can check it)"
    last_user = max(i for i, (op, _) in enumerate(instructions) if op == "USER")
    assert all(op != "RUN" for op, _ in instructions[last_user:]), "nothing runs as root after USER"
    (health,) = [arg for op, arg in instructions if op == "HEALTHCHECK"]
    assert "CMD" in health
    env = " ".join(arg for op, arg in instructions if op == "ENV")
    assert f"NETWATCH_HEALTH_URL=http://127.0.0.1:{AGENT_PORT}/healthz" in env
    assert "NETWATCH_HEALTH_URL" in health
    assert [arg for op, arg in instructions if op == "EXPOSE"] == [str(AGENT_PORT)]
    for op, arg in instructions:
        if op == "COPY" and "--from" not in arg:
            for source in arg.split()[:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert op != "ADD", "COPY, not ADD (no remote URLs, no implicit unpacking)"
    assert 'ENTRYPOINT ["netwatch"]' in DOCKERFILE.read_text()


# --- compose ------------------------------------------------------------------------------------------------


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def test_compose_services_and_mounted_files() -> None:
    data = compose()
    assert set(data["services"]) == SERVICES
    named = set(data.get("volumes", {}))
    for name, service in data["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name}: mounts {source}, which does not exist"
            else:
                assert source in named, f"{name}: volume {source} is not declared"
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} must be published on loopback only"
        for dependency in service.get("depends_on", []):
            assert dependency in data["services"]


def test_compose_agents_are_hardened_and_their_configs_load() -> None:
    data = compose()
    for name in ("netwatch-inside", "netwatch-outside"):
        service = data["services"][name]
        assert (
            service["build"]["context"] == ".." and (DEPLOY / ".." / service["build"]["dockerfile"]).exists()
        )
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert not service["user"].startswith("0")
        assert "no-new-privileges:true" in service["security_opt"]
        (config,) = [DEPLOY / s for s, t in bind_mounts(service) if t == "/etc/netwatch/netwatch.yaml"]
        loaded = load_config(config, environ={})  # validates schema and catalogs; sends no traffic
        assert loaded.listen_port == AGENT_PORT and loaded.listen_address == "0.0.0.0"
        assert loaded.vantage.position.value == name.removeprefix("netwatch-")
        (data_target,) = [t for s, t in [v.split(":")[:2] for v in service["volumes"]] if s.endswith("-data")]
        assert str(loaded.data_dir) == data_target == "/var/lib/netwatch"


def test_compose_prometheus_scrapes_every_agent_with_its_vantage_labels() -> None:
    data = compose()
    prom_service = data["services"]["prometheus"]
    mounts = dict((t, s) for s, t in bind_mounts(prom_service))
    config = yaml.safe_load((DEPLOY / mounts["/etc/prometheus/prometheus.yml"]).read_text())
    assert (DEPLOY / mounts["/etc/prometheus/rules"]).resolve() == (DEPLOY / "prometheus" / "rules").resolve()
    shipped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert config["rule_files"] == shipped["rule_files"], (
        "the compose Prometheus loads the shipped rule files"
    )
    assert all(rule.startswith("rules/") for rule in config["rule_files"])
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "netwatch"
    seen = {}
    for static in job["static_configs"]:
        (address,) = static["targets"]
        service, port = address.split(":")
        agent_service = data["services"][service]
        (path,) = [DEPLOY / s for s, t in bind_mounts(agent_service) if t == "/etc/netwatch/netwatch.yaml"]
        agent = load_config(path, environ={})
        assert int(port) == agent.listen_port
        assert static["labels"] == {
            "vantage": agent.vantage.id,
            "position": agent.vantage.position.value,
            "watched_country": "KZ",
        }
        seen[service] = static["labels"]["position"]
    assert seen == {"netwatch-inside": "inside", "netwatch-outside": "outside"}
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert "127.0.0.1:9093:9093" in data["services"]["alertmanager"]["ports"]
    assert "127.0.0.1:9090:9090" in prom_service["ports"]


def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus')")
    # Lay the files out as the container sees them: /etc/prometheus/{prometheus.yml,rules/}.
    shutil.copy(DEPLOY / "compose" / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(DEPLOY / "prometheus" / "rules", tmp_path / "rules")
    output = run(promtool, "check", "config", tmp_path / "prometheus.yml")
    assert "3 rule files found" in output, output


def test_compose_grafana_is_provisioned() -> None:
    data = compose()
    grafana = data["services"]["grafana"]
    mounts = dict((t, s) for s, t in bind_mounts(grafana))
    provisioning = DEPLOY / mounts["/etc/grafana/provisioning"]
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())["datasources"]
    host, port = source["url"].removeprefix("http://").split(":")
    assert host in data["services"] and f"127.0.0.1:{port}:{port}" in data["services"][host]["ports"]
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "netwatch.yaml").read_text())["providers"]
    dashboards = DEPLOY / mounts[provider["options"]["path"]]
    assert dashboards.resolve() == (ROOT / "dashboards").resolve()
    assert sorted(p.name for p in dashboards.glob("*.json")), "no dashboards to load"
    gazetteer = "/usr/share/grafana/public/gazetteer/kz-regions.json"
    assert (DEPLOY / mounts[gazetteer]).resolve() == (
        DEPLOY / "grafana" / "gazetteer" / "kz-regions.json"
    ).resolve()
    assert "${GRAFANA_ADMIN_PASSWORD" in grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]


def test_compose_alertmanager_gets_what_its_config_reads() -> None:
    data = compose()
    service = data["services"]["alertmanager"]
    targets = {t for _, t in bind_mounts(service)}
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    for key, value in config.get("global", {}).items():
        if key.endswith("_file"):
            assert value in targets, f"alertmanager.yml reads {value}: compose must mount it"
    for pattern in config.get("templates", []):
        assert f"/etc/alertmanager/{Path(pattern).parent}" in targets


def test_docker_compose_config_validates(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        reason = (probe.stderr.strip() or probe.stdout.strip() or "no output").splitlines()[0]
        pytest.skip(f"the docker client has no compose plugin here ({reason})")
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": str(tmp_path), "GRAFANA_ADMIN_PASSWORD": "x"}
    run(docker, "compose", "-f", COMPOSE, "config", "--quiet", env=env)


# --- Kubernetes ---------------------------------------------------------------------------------------------


def manifests() -> list[tuple[str, dict[str, Any]]]:
    return [
        (path.name, doc)
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def by_kind(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in manifests() if d["kind"] == kind]
    return doc


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )
    assert {d["kind"] for _, d in manifests()} >= {
        "Deployment",
        "Service",
        "ConfigMap",
        "ServiceMonitor",
        "NetworkPolicy",
    }


def test_kubernetes_manifests_validate_against_the_schemas() -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (the test extra)")
    version = kv.latest_version()
    checked = []
    for _, doc in manifests():
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: no schema in kubernetes-validate; see the ServiceMonitor test
        kv.validate(doc, version, strict=True)
        checked.append(doc["kind"])
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy"} <= set(checked)
    broken = by_kind("Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["securityContex"] = {}  # a typo must not pass
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, version, strict=True)


def test_deployment_is_non_root_read_only_and_limited() -> None:
    deployment = by_kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    (port,) = container["ports"]
    assert port["containerPort"] == AGENT_PORT


def test_kubernetes_pieces_fit_together(tmp_path: Path) -> None:
    deployment, service, configmap = by_kind("Deployment"), by_kind("Service"), by_kind("ConfigMap")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == configmap["metadata"]["name"]
    config_file = tmp_path / "netwatch.yaml"
    config_file.write_text(configmap["data"]["netwatch.yaml"])
    config = load_config(config_file, environ={})
    assert container["args"] == ["run", "--config", f"{mounts['config']}/netwatch.yaml"]
    assert str(config.data_dir) == mounts["data"]
    assert (
        volumes["data"]["persistentVolumeClaim"]["claimName"]
        == by_kind("PersistentVolumeClaim")["metadata"]["name"]
    )
    assert "tmp" in mounts  # a writable /tmp beside the read-only root
    assert config.listen_port == container["ports"][0]["containerPort"]
    assert config.listen_address == "0.0.0.0"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert service["spec"]["selector"].items() <= labels.items()
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == container["ports"][0]["name"]
    policy = by_kind("NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    (ingress,) = policy["spec"]["ingress"]
    assert [p["port"] for p in ingress["ports"]] == [config.listen_port]
    assert all(
        doc["metadata"].get("namespace") == "netwatch" for _, doc in manifests() if doc["kind"] != "Namespace"
    )


def test_service_monitor_required_fields() -> None:
    monitor, service, configmap = by_kind("ServiceMonitor"), by_kind("Service"), by_kind("ConfigMap")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert (
        monitor["metadata"]["name"] and monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    )
    spec = monitor["spec"]
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    assert (
        service["metadata"]["labels"][spec["jobLabel"]] == "netwatch"
    )  # job="netwatch" as the alerts expect
    port_names = {p["name"] for p in service["spec"]["ports"]}
    assert spec["endpoints"], "endpoints is required"
    vantage = yaml.safe_load(configmap["data"]["netwatch.yaml"])["vantage"]
    for endpoint in spec["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
        assert endpoint.get("honorLabels", False) is False  # an agent must not forge its vantage label
        added = {
            r["targetLabel"]: r["replacement"] for r in endpoint["relabelings"] if r["action"] == "replace"
        }
        assert added == {"vantage": vantage["id"], "position": vantage["position"], "watched_country": "KZ"}


# --- systemd ------------------------------------------------------------------------------------------------


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_is_hardened() -> None:
    s = unit_settings()
    required = {
        "User": ["netwatch"],
        "StateDirectory": ["netwatch"],
        "ProtectSystem": ["strict"],
        "NoNewPrivileges": ["yes"],
        "CapabilityBoundingSet": [""],
        "AmbientCapabilities": [""],
        "PrivateTmp": ["yes"],
        "PrivateDevices": ["yes"],
        "ProtectHome": ["yes"],
        "ProtectKernelTunables": ["yes"],
        "ProtectKernelModules": ["yes"],
        "ProtectControlGroups": ["yes"],
        "RestrictSUIDSGID": ["yes"],
        "MemoryDenyWriteExecute": ["yes"],
        "WorkingDirectory": ["/var/lib/netwatch"],
    }
    for key, value in required.items():
        assert s.get(key) == value, (key, s.get(key))
    assert "AF_INET AF_INET6" in s["RestrictAddressFamilies"][0]
    assert "ReadWritePaths" not in s, "StateDirectory is the only writable path"
    assert s["ExecStart"][0].endswith("run --config /etc/netwatch/netwatch.yaml")


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify insists that ExecStart's binary exists: point it at a stand-in with the same name.
    executable = tmp_path / "bin" / "netwatch"
    executable.parent.mkdir()
    executable.write_text("#!/bin/sh\nexit 0\n")
    executable.chmod(0o755)
    text = UNIT.read_text().replace("/opt/netwatch/bin/netwatch", str(executable))

    def verify(name: str, content: str) -> tuple[int, list[str], str]:
        (tmp_path / name).mkdir()
        unit = tmp_path / name / "netwatch.service"
        unit.write_text(content)
        result = subprocess.run(
            [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
        )
        output = result.stdout + result.stderr
        # systemd-analyze exits 0 on unknown keys and bad values: they show as lines naming the unit file.
        return result.returncode, [line for line in output.splitlines() if str(unit) in line], output

    code, problems, output = verify("shipped", text)
    assert code == 0 and not problems, output
    _, problems, output = verify("typo", text.replace("ProtectSystem=strict", "ProtectSystm=strict"))
    assert problems, f"verify did not notice a misspelt key:\n{output}"


# --- docs/operators.md --------------------------------------------------------------------------------------


def test_operators_guide_names_only_files_that_exist() -> None:
    guide = ROOT / "docs" / "operators.md"
    text = guide.read_text()
    links = re.findall(r"\]\(((?:\.\./)?[\w./-]+)\)", text)
    paths = re.findall(r"`((?:deploy|dashboards|docs|bench|tests|netwatch)/[\w./{},-]*)`", text)
    assert links and paths
    for link in links:
        assert (guide.parent / link).exists(), link
    for path in paths:
        for expanded in re.sub(r"\{(\w+),(\w+)\}", r"\1", path), re.sub(r"\{(\w+),(\w+)\}", r"\2", path):
            assert (ROOT / expanded).exists(), expanded


def test_operators_guide_backs_up_with_the_sqlite_backup_api() -> None:
    text = (ROOT / "docs" / "operators.md").read_text()
    assert ".backup '" in text and ".backup(" in text
    assert "PRAGMA integrity_check" in text
