"""Compile ibpilot's Java parts with the JDK alone (javac + jar; no network, stdlib only).

Used by setup.py at install time and by :mod:`ibpilot.jars` on demand in a source checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class JarSpec:
    name: str
    source_dirs: tuple[str, ...]  # relative to the repository root
    manifest: dict[str, str]


AGENT_JAVA = "src/ibpilot/agent/java"
JSON_JAVA = "src/ibpilot/agent/java/ibpilot/json"

JARS: dict[str, JarSpec] = {
    "agent": JarSpec(
        "ibpilot-agent.jar",
        (AGENT_JAVA,),
        {
            "Premain-Class": "ibpilot.agent.Agent",
            "Agent-Class": "ibpilot.agent.Agent",
            "Can-Redefine-Classes": "false",
        },
    ),
    "sim": JarSpec("ibpilot-sim.jar", ("sim/src", JSON_JAVA), {}),
}

OUT_DIR = "src/ibpilot/_jars"


class BuildError(RuntimeError):
    pass


def _java_sources(root: Path, spec: JarSpec) -> list[Path]:
    files: list[Path] = []
    for d in spec.source_dirs:
        files.extend(sorted((root / d).rglob("*.java")))
    return files


def _resources(root: Path, spec: JarSpec) -> list[tuple[Path, str]]:
    """Non-Java files under a source dir that has a `resources` sibling (sim/resources)."""
    out: list[tuple[Path, str]] = []
    for d in spec.source_dirs:
        res = (root / d).parent / "resources"
        if d.endswith("/src") and res.is_dir():
            out.extend((p, str(p.relative_to(res))) for p in sorted(res.rglob("*")) if p.is_file())
    return out


def _tool(name: str) -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / name).exists():
        return str(Path(java_home) / "bin" / name)
    found = shutil.which(name)
    if not found:
        raise BuildError(f"{name} not found: install a JDK 17 (scripts/install-system-deps.sh) or set JAVA_HOME")
    return found


def is_stale(root: Path, key: str) -> bool:
    spec = JARS[key]
    jar = root / OUT_DIR / spec.name
    if not jar.exists():
        return True
    newest = max((p.stat().st_mtime for p in _java_sources(root, spec)), default=0.0)
    return newest > jar.stat().st_mtime


def build_jar(root: Path, key: str) -> Path:
    spec = JARS[key]
    sources = _java_sources(root, spec)
    if not sources:
        raise BuildError(f"no Java sources for {key} under {spec.source_dirs}")
    out = root / OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"ibpilot-build-{key}-") as tmp:
        classes = Path(tmp) / "classes"
        classes.mkdir()
        cmd = [_tool("javac"), "--release", "17", "-nowarn", "-encoding", "UTF-8", "-d", str(classes)]
        proc = subprocess.run([*cmd, *map(str, sources)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"javac failed for {key}:\n{proc.stdout}{proc.stderr}")
        for src, rel in _resources(root, spec):
            dst = classes / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        manifest = Path(tmp) / "MANIFEST.MF"
        manifest.write_text("".join(f"{k}: {v}\n" for k, v in spec.manifest.items()))
        tmp_jar = Path(tmp) / spec.name
        proc = subprocess.run(
            [_tool("jar"), "--create", "--file", str(tmp_jar), "--manifest", str(manifest), "-C", str(classes), "."],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise BuildError(f"jar failed for {key}:\n{proc.stdout}{proc.stderr}")
        final = out / spec.name
        os.replace(shutil.copy(tmp_jar, out / (spec.name + ".tmp")), final)
    return final


def build_all(root: Path, only_stale: bool = False) -> list[Path]:
    return [build_jar(root, k) for k in JARS if not only_stale or is_stale(root, k)]


if __name__ == "__main__":
    repo = Path(__file__).resolve().parents[2]
    for path in build_all(repo, only_stale="--stale" in sys.argv):
        print(f"built {path.relative_to(repo)}")
