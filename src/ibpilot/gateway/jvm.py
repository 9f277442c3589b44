"""Build the java command line for Gateway / TWS, as IBC's ibcstart.sh does, minus its losses.

Differences from IBC, on purpose: the install's `-D` vmoptions are kept (IBC drops them), the in-JVM
agent is added with `-javaagent:`, and the heap size / extra options come from the settings.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ibpilot.gateway.install import Install

# Module access the Gateway needs on Java 9+ (IBC adds the same kind of list; javafx ones are left out:
# an unknown module only yields a warning, but there is nothing to open).
MODULE_ACCESS = tuple(
    f"--add-opens={m}=ALL-UNNAMED"
    for m in (
        "java.base/java.lang",
        "java.base/java.util",
        "java.base/java.util.concurrent",
        "java.base/java.lang.reflect",
        "java.base/java.io",
        "java.base/java.net",
        "java.base/java.nio",
        "java.base/sun.nio.ch",
        "java.desktop/java.awt",
        "java.desktop/java.awt.event",
        "java.desktop/java.beans",
        "java.desktop/javax.swing",
        "java.desktop/javax.swing.event",
        "java.desktop/javax.swing.plaf.basic",
        "java.desktop/javax.swing.table",
        "java.desktop/javax.swing.text",
        "java.desktop/sun.awt",
        "java.desktop/sun.awt.X11",
        "java.desktop/sun.swing",
    )
) + ("--add-exports=java.desktop/sun.awt.X11=ALL-UNNAMED",)


# What IB's install4j launcher tells the Gateway about how it was started; IBC's ibcstart.sh passes the same
# (gateway-ui.md §1.2), so the Gateway's auto-update service is the install4j one and stays quiet.
LAUNCHER_PROPERTIES = (
    "-Dtwslaunch.autoupdate.serviceImpl=com.ib.tws.twslaunch.install4j.Install4jAutoUpdateService",
    "-Dchannel=latest",
    "-Dexe4j.isInstall4j=true",
    "-Dinstall4jType=standalone",
)


class JavaNotFound(RuntimeError):
    pass


def find_java(install: Install, java_home_env: str | None = None) -> str:
    """install4j cfg > JAVA_HOME > PATH (the order IBC uses, without its PATH bug)."""
    candidates: list[Path] = []
    if install.jre_home is not None:
        candidates.append(install.jre_home / "bin" / "java")
    if java_home_env:
        candidates.append(Path(java_home_env) / "bin" / "java")
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    on_path = shutil.which("java")
    if on_path:
        return on_path
    tried = ", ".join(str(c) for c in candidates) or "no install4j cfg, no JAVA_HOME"
    raise JavaNotFound(f"no java executable found (tried {tried}, and PATH)")


def find_autorestart(settings_dir: Path) -> str | None:
    """`<settings>/<subdir>/autorestart`: exactly one → its subdir; several → all deleted (full login)."""
    if not settings_dir.is_dir():
        return None
    found = sorted(p for p in settings_dir.glob("*/autorestart") if p.is_file())
    if len(found) == 1:
        return found[0].parent.name
    for p in found:
        p.unlink(missing_ok=True)
    return None


@dataclass(frozen=True)
class JvmOptions:
    settings_dir: Path
    agent_jar: Path | None = None
    agent_socket: Path | None = None
    heap_mb: int | None = None
    extra: Sequence[str] = ()
    restart_subdir: str | None = None


def build_command(install: Install, java: str, opts: JvmOptions) -> list[str]:
    vm = [o for o in install.vmoptions if not (opts.heap_mb and o.startswith("-Xmx"))]
    if opts.heap_mb:
        vm.append(f"-Xmx{opts.heap_mb}m")
    given = {o.split("=", 1)[0] for o in (*vm, *opts.extra) if o.startswith("-D")}
    props = [p for p in LAUNCHER_PROPERTIES if p.split("=", 1)[0] not in given]
    props.append(f"-DjtsConfigDir={opts.settings_dir}")
    if install.jxbrowser_key and not any(o.startswith("-DjxBrowserKey=") for o in vm):
        props.append(f"-DjxBrowserKey={install.jxbrowser_key}")
    if opts.restart_subdir:
        props.append(f"-Drestart={opts.restart_subdir}")
    agent: list[str] = []
    if opts.agent_jar is not None:
        if opts.agent_socket is None:
            raise ValueError("agent_socket is required with agent_jar")
        agent = [f"-javaagent:{opts.agent_jar}=socket={opts.agent_socket}"]
    classpath = os.pathsep.join(str(j) for j in install.jars)
    return [
        java,
        *MODULE_ACCESS,
        *vm,
        *props,
        *agent,
        *opts.extra,
        "-cp",
        classpath,
        install.main_class,
        str(opts.settings_dir),
    ]
