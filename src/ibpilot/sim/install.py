"""Write an install tree shaped like a real IB Gateway / TWS offline install, running the simulator.

Gateway: ``DIR/ibgateway/<ver>/{jars/*.jar, ibgateway.vmoptions, .install4j/inst_jre.cfg, ibgateway}``
TWS:     ``DIR/<ver>/{jars/*.jar, tws.vmoptions, .install4j/inst_jre.cfg, tws}``
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ibpilot.gateway.install import MAIN_CLASS, Product, program_dir
from ibpilot.jars import jar_path

DEFAULT_VERSION = "1037"

# What a real 10.x Gateway/TWS install ships in its .vmoptions (the -D lines are kept by ibpilot,
# dropped by IBC). The simulator ignores most of them; they are here so launchers see a real file.
VMOPTIONS = """\
-Xmx768m
-XX:+UseG1GC
-XX:MaxGCPauseMillis=200
-XX:ParallelGCThreads=20
-XX:ConcGCThreads=5
-XX:InitiatingHeapOccupancyPercent=70
-Dsun.awt.nopixfmt=true
-Dsun.java2d.noddraw=true
-Dswing.boldMetal=false
-Dsun.locale.formatasdefault=true
"""

def java_home() -> Path:
    """The JRE home of the `java` on PATH (or JAVA_HOME), as install4j writes it to inst_jre.cfg."""
    env_home = os.environ.get("JAVA_HOME")
    if env_home and (Path(env_home) / "bin" / "java").exists():
        return Path(env_home)
    java = shutil.which("java")
    if not java:
        raise FileNotFoundError("no java on PATH: install a JRE 17 (scripts/install-system-deps.sh)")
    return Path(java).resolve().parent.parent


def install(root: Path, product: Product = "gateway", version: str = DEFAULT_VERSION) -> Path:
    """Write (or refresh) the simulated install; returns the program directory."""
    prog = program_dir(root, product, version)
    jars = prog / "jars"
    jars.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(jar_path("sim"), jars / f"ibpilot-sim-{version}.jar")
    name = "ibgateway" if product == "gateway" else "tws"
    (prog / f"{name}.vmoptions").write_text(VMOPTIONS)
    i4j = prog / ".install4j"
    i4j.mkdir(exist_ok=True)
    (i4j / "inst_jre.cfg").write_text(f"{java_home()}\n")
    launcher = prog / name
    launcher.write_text(
        "#!/bin/sh\n"
        "# Simulated install4j launcher: starts the simulated "
        f"{'IB Gateway' if product == 'gateway' else 'TWS'} like the real one.\n"
        'here=$(cd "$(dirname "$0")" && pwd)\n'
        'jre=$(head -n1 "$here/.install4j/inst_jre.cfg")\n'
        f'opts=$(grep -v "^#" "$here/{name}.vmoptions")\n'
        f'exec "$jre/bin/java" $opts -cp "$here/jars/*" {MAIN_CLASS[product]} "${{1:-$HOME/Jts}}"\n'
    )
    launcher.chmod(0o755)
    return prog


if __name__ == "__main__":  # pragma: no cover
    print(install(Path(sys.argv[1])))
