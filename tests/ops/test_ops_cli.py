"""The command lines: `python app.py --help / --version / --check-config` and `python -m schema`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from schema.root import SDL_PATH
from tests.processes import ROOT


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "GATEWAY_CONFIG" and not k.startswith("OTEL_")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env={**base, **(env or {}), "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_help_names_the_configuration_and_the_sandbox_connections() -> None:
    done = run(str(ROOT / "app.py"), "--help")
    assert done.returncode == 0
    for text in ("GATEWAY_CONFIG", "sandbox-stackone", "sandbox-kombo", "sandbox-unified-to", "--host", "--port",
                 "--log-format", "--log-level", "--check-config", "--version", "OTEL_TRACES_EXPORTER", "/metrics"):
        assert text in done.stdout, text


def test_version() -> None:
    done = run(str(ROOT / "app.py"), "--version")
    assert done.returncode == 0
    assert done.stdout.strip() == "python app.py 0.1.0"


def test_check_config_of_the_default() -> None:
    done = run(str(ROOT / "app.py"), "--check-config")
    assert done.returncode == 0
    assert "configuration OK" in done.stdout
    assert "sandbox-stackone, sandbox-kombo, sandbox-unified-to" in done.stdout


def test_check_config_lists_every_problem_and_exits_2(tmp_path: Path) -> None:
    # given a file with several problems, and an unknown trace exporter
    config = tmp_path / "gateway.toml"
    config.write_text('[service]\ndatabase_url = "mysql://x"\n[delivery]\nbatch_size = 0\n[metrics]\nallow = ["x"]\n')
    # when checked
    done = run(str(ROOT / "app.py"), "--check-config",
               env={"GATEWAY_CONFIG": str(config), "OTEL_TRACES_EXPORTER": "zipkin"})  # fmt: skip
    # then every problem is printed and the exit status is 2
    assert done.returncode == 2
    for problem in ("database_url must start with", "at least one [[connections]]", "[delivery].batch_size",
                    "[metrics].allow", "unknown exporter 'zipkin'"):
        assert problem in done.stdout, done.stdout


def test_check_config_does_not_start_or_write(tmp_path: Path) -> None:
    done = run(str(ROOT / "app.py"), "--check-config", cwd=tmp_path)
    assert done.returncode == 0
    assert list(tmp_path.iterdir()) == []  # no database file was created


def test_schema_help_never_writes(tmp_path: Path) -> None:
    before = SDL_PATH.stat().st_mtime_ns
    done = run("-m", "schema", "--help")
    assert done.returncode == 0
    assert "--check" in done.stdout
    assert SDL_PATH.stat().st_mtime_ns == before


def test_schema_check_passes_on_the_committed_file_and_fails_on_drift(tmp_path: Path) -> None:
    assert run("-m", "schema", "--check").returncode == 0
    drifted = tmp_path / "schema.graphql"
    drifted.write_text(SDL_PATH.read_text().replace("type AssessmentOrder", "type AssessmentOrderX", 1))
    done = run("-m", "schema", "--check", "--output", str(drifted))
    assert done.returncode == 1
    assert "+type AssessmentOrder" in done.stdout
    assert drifted.read_text().count("AssessmentOrderX") == 1  # not rewritten
