"""The container files, checked without a Docker engine: the Dockerfile's promises (slim Python, non-root,
HEALTHCHECK on /ready, listening on all interfaces), the wheel it installs, and compose.yaml (two
instances on PostgreSQL with a configuration that validates)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import yaml

from server.settings import parse_settings
from tests.processes import ROOT


def instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_promises() -> None:
    steps = instructions()
    kinds = [k for k, _ in steps]
    (base,) = [v for k, v in steps if k == "FROM"]
    assert re.fullmatch(r"python:3\.1[1-9]-slim", base)
    user = [v for k, v in steps if k == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert kinds.index("USER") > max(i for i, k in enumerate(kinds) if k == "RUN")  # nothing runs as root after
    (health,) = [v for k, v in steps if k == "HEALTHCHECK"]
    assert "/ready" in health and "CMD" in health
    (cmd,) = [json.loads(v) for k, v in steps if k == "CMD"]
    assert cmd[:2] == ["python", "app.py"] and cmd[cmd.index("--host") + 1] == "0.0.0.0"


def test_the_copied_files_build_a_wheel_with_what_the_service_needs(tmp_path: Path) -> None:
    # given only what the Dockerfile copies, as in the image's build context
    context = tmp_path / "context"
    context.mkdir()
    for _, value in (s for s in instructions() if s[0] == "COPY"):
        *sources, target = value.split()
        for source in sources:
            destination = context / target / Path(source).name if target.endswith("/") else context / target
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, destination, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(ROOT / source, destination)
    # when it is built as `pip install .` would
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(context)],
                   check=True, timeout=300)  # fmt: skip
    # then the wheel holds the service, its SDL and its migrations
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("app.py", "schema/schema.graphql", "store/migrations/versions/0004_delivery.py",
                   "server/metrics.py", "store/migrations/script.py.mako", "sandbox/seed_data.py"):
        assert needed in names, needed


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


def test_compose_runs_two_instances_on_postgresql() -> None:
    services = compose()["services"]
    gateways = {name: s for name, s in services.items() if s.get("build") == "."}
    assert len(gateways) == 2
    assert services["db"]["image"].startswith("postgres:15")
    assert "healthcheck" in services["db"]
    host_ports = set()
    for service in gateways.values():
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert service["environment"]["GATEWAY_CONFIG"] == "/etc/gateway/gateway.toml"
        (mount,) = service["volumes"]
        assert mount.split(":")[1] == "/etc/gateway/gateway.toml"
        host_ports.add(service["ports"][0].split(":")[0])
    assert len(host_ports) == 2


def test_compose_configuration_validates_and_points_at_the_db_service() -> None:
    import tomllib

    (mount,) = next(s for s in compose()["services"].values() if s.get("build") == ".")["volumes"]
    data = tomllib.loads((ROOT / mount.split(":")[0]).read_text())
    settings = parse_settings(data, environ={"METRICS_TOKEN": "t"})
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert "@db:5432/" in settings.database_url
    assert settings.metrics.admits("172.18.0.5", "Bearer t")
    assert not settings.metrics.admits("172.18.0.5", None)
    assert {c.id for c in settings.connections} == {"sandbox-stackone", "sandbox-kombo", "sandbox-unified-to"}
