"""What can be checked about docker/ without a Docker engine: compose parses and names real settings, the
Dockerfile's files exist and it passes hadolint, the entrypoint is valid sh."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ibpilot.settings import Settings, all_env_names

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
SERVICES = {"bridge", "external", "local", "remote"}


def compose() -> dict[str, Any]:
    # ruamel.yaml comes with check-jsonschema (the compose-spec validator below)
    from ruamel.yaml import YAML

    data: dict[str, Any] = json.loads(json.dumps(YAML(typ="safe").load((DOCKER / "compose.yaml").read_text())))
    return data


def defaults(env: dict[str, Any]) -> dict[str, str]:
    """`${NAME:-default}` -> default (what compose uses with an empty .env); a secret file `X_FILE` -> `X`."""
    out = {k: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(v)) for k, v in env.items()}
    return {k.removesuffix("_FILE"): ("secret12" if k.endswith("_FILE") else v) for k, v in out.items()}


def test_compose_has_the_four_patterns_with_a_long_grace_period() -> None:
    c = compose()
    assert set(c["services"]) == SERVICES
    for name, svc in c["services"].items():
        assert svc["profiles"] == [name]
        grace = svc["stop_grace_period"]
        assert re.fullmatch(r"\d+s", grace) and int(grace[:-1]) > 90, (name, grace)
        assert svc["build"]["dockerfile"] == "docker/Dockerfile"
        assert "tws_password" in svc["secrets"]
    assert c["services"]["local"]["network_mode"] == "host"
    assert "ports" not in c["services"]["local"] and "ports" not in c["services"]["remote"]
    assert all(p.startswith("127.0.0.1:") for p in c["services"]["bridge"]["ports"])


def test_compose_environment_names_are_settings_ibpilot_reads() -> None:
    known = set(all_env_names())
    for name, svc in compose()["services"].items():
        unknown = set(svc["environment"]) - known
        assert not unknown, (name, unknown)


def test_compose_environments_are_valid_settings() -> None:
    for svc in compose()["services"].values():
        env = defaults(svc["environment"])
        env.pop("SSH_IDENTITY", None)
        if env.get("SSH_TUNNEL") == "yes":
            env["SSH_USER_TUNNEL"] = "tunnel@bastion.example.com:22"
        env["TWS_USERID"] = "someone"
        env["TWS_PASSWORD"] = "pw"
        Settings.from_env(env)  # raises SettingsError listing what is wrong


def test_compose_ports_match_the_settings() -> None:
    svc = compose()["services"]["bridge"]
    env = defaults(svc["environment"])
    s = Settings.from_env({**env, "TRADING_MODE": "both", "TWS_USERID": "u", "TWS_PASSWORD": "p"})
    published = {int(p.split(":")[-1]) for p in svc["ports"]}
    assert {s.socat_port("live"), s.socat_port("paper")} <= published


def test_dockerfile_copies_files_that_exist() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    sources = []
    for m in re.finditer(r"^COPY (?!--from)(?:--\S+ )*(.+) (\S+)$", text, re.M):
        sources += m.group(1).split()
    assert sources
    ignored = [ln.strip() for ln in (REPO / ".dockerignore").read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    for src in sources:
        assert (REPO / src).exists(), src
        assert not any(src == ig or src.startswith(ig.rstrip("/") + "/") for ig in ignored), (src, ignored)
    for needed in ("install-system-deps.sh --runtime", "-c constraints.txt .", "_build.py", "HEALTHCHECK",
                   "CMD [\"ibpilot\", \"health\"]", "tini", "ibpilot sim install", "sha256sum -c", "TARGETARCH"):
        assert needed in text, needed
    assert re.search(r"^FROM gateway-\$\{GATEWAY\}$", text, re.M)
    # ENV names the image sets are settings ibpilot reads (besides PATH and Python's own).
    env_block = re.search(r"^ENV (.+?)(?=^\S)", text, re.M | re.S)
    assert env_block
    names = set(re.findall(r"([A-Z_]+)=", env_block.group(1))) - {"PATH", "PYTHONUNBUFFERED"}
    assert names <= set(all_env_names()), names - set(all_env_names())


def _check_compose_spec(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    return subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", str(path)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_compose_file_validates_against_the_compose_spec_schema(tmp_path: Path) -> None:
    r = _check_compose_spec(DOCKER / "compose.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    broken = tmp_path / "compose.yaml"  # the check can fail: a misspelt key is refused
    broken.write_text((DOCKER / "compose.yaml").read_text().replace("stop_grace_period:", "stop_grace_periods:", 1))
    assert _check_compose_spec(broken).returncode != 0


def test_dockerfile_passes_hadolint() -> None:
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    r = subprocess.run([exe, "--failure-threshold", "info", str(DOCKER / "Dockerfile")],
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stdout + r.stderr


def test_entrypoint_is_valid_sh_and_drops_privileges() -> None:
    path = DOCKER / "entrypoint.sh"
    subprocess.run(["sh", "-n", str(path)], check=True)
    text = path.read_text()
    assert "setpriv" in text and "PUID" in text and 'exec "$@"' in text


def _stages(text: str) -> dict[str, str]:
    """Stage name (or `final`) -> its instructions, from a Dockerfile without line continuations joined."""
    stages: dict[str, str] = {}
    for chunk in re.split(r"^(?=FROM )", text, flags=re.M)[1:]:
        m = re.match(r"FROM \S+(?: AS (\S+))?", chunk)
        assert m
        stages[m.group(1) or "final"] = chunk
    return stages


def test_run_time_settings_live_in_the_base_stage() -> None:
    """buildah/podman build `--target gateway-sim` (they do not resolve a stage named through an ARG): that
    target must be the same image as Docker's final stage, so the final stage adds nothing."""
    stages = _stages((DOCKER / "Dockerfile").read_text())
    assert {"build", "fetch-real", "base", "gateway-sim", "gateway-real", "final"} <= set(stages)
    final = [ln for ln in stages["final"].splitlines() if ln.strip() and not ln.startswith("#")]
    assert final == ["FROM gateway-${GATEWAY}"], final
    for instr in ("HEALTHCHECK", "ENTRYPOINT", "CMD", "VOLUME", "STOPSIGNAL", "EXPOSE"):
        where = [name for name, body in stages.items() if re.search(rf"^{instr} ", body, re.M)]
        assert where == ["base"], (instr, where)
    assert all(re.match(r"FROM \$\{BASE_IMAGE\} AS ", stages[s]) for s in ("build", "fetch-real", "base"))
    assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-slim$", (DOCKER / "Dockerfile").read_text(), re.M)


def test_build_script_is_valid_bash_and_builds_the_target_in_docker_format() -> None:
    script = REPO / "scripts" / "build-image.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    assert '--target "gateway-$GATEWAY"' in text and "--format docker" in text  # HEALTHCHECK kept
    assert "--isolation chroot" in text and "mmdebstrap" in text
    assert not re.search(r"[a-z0-9-]+\.(org|com|net|io)\b", text), "a host name is written in the script"
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^image:\n\tbash scripts/build-image.sh$", makefile, re.M)
