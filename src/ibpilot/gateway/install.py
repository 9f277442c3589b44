"""Find an IB Gateway / TWS installation the way IBC's ibcstart.sh does (gateway-ui.md §1.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Product = Literal["gateway", "tws"]

MAIN_CLASS: dict[Product, str] = {"gateway": "ibgateway.GWClient", "tws": "jclient.LoginFrame"}
VMOPTIONS_NAME: dict[Product, str] = {"gateway": "ibgateway.vmoptions", "tws": "tws.vmoptions"}


class InstallError(RuntimeError):
    """No usable installation: the message says what was looked for and where."""


@dataclass(frozen=True)
class Install:
    product: Product
    version: str
    program_dir: Path
    jars: tuple[Path, ...]
    vmoptions: tuple[str, ...] = field(default=())
    jre_home: Path | None = None
    jxbrowser_key: str | None = None

    @property
    def main_class(self) -> str:
        return MAIN_CLASS[self.product]


def program_dir(tws_path: Path, product: Product, version: str) -> Path:
    """Where IB's installer puts `version` of `product` under the Jts directory."""
    return tws_path / "ibgateway" / version if product == "gateway" else tws_path / version


def installed_versions(tws_path: Path, product: Product) -> list[str]:
    base = tws_path / "ibgateway" if product == "gateway" else tws_path
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.name.isdigit() and (p / "jars").is_dir())


def read_vmoptions(path: Path) -> tuple[str, ...]:
    """Every non-empty, non-comment line (unlike IBC, -D lines are kept: passkey needs -DjxBrowserKey)."""
    lines = (ln.strip() for ln in path.read_text(errors="replace").splitlines())
    return tuple(ln for ln in lines if ln and not ln.startswith("#"))


def _jre_home(program_dir: Path) -> Path | None:
    for name in ("pref_jre.cfg", "inst_jre.cfg"):
        cfg = program_dir / ".install4j" / name
        if cfg.is_file():
            first = cfg.read_text(errors="replace").splitlines()[:1]
            if first and first[0].strip():
                return Path(first[0].strip())
    return None


def _jxbrowser_key(program_dir: Path) -> str | None:
    params = program_dir / ".install4j" / "i4jparams.conf"
    if params.is_file():
        m = re.search(r"-DjxBrowserKey=([^\s\"'<]+)", params.read_text(errors="replace"))
        if m:
            return m.group(1)
    return None


def find_install(tws_path: Path, product: Product, version: str | None = None) -> Install:
    """The install for `product` under `tws_path` (version auto-detected when it is the only one)."""
    if version is None:
        found = installed_versions(tws_path, product)
        if not found:
            where = tws_path / "ibgateway" / "<version>" if product == "gateway" else tws_path / "<version>"
            raise InstallError(
                f"no {product} installation found: looked for {where}/jars "
                "(set TWS_PATH, or install the simulator with `ibpilot sim install DIR`)"
            )
        if len(found) > 1:
            raise InstallError(
                f"several {product} versions under {tws_path}: {', '.join(found)}; set TWS_MAJOR_VRSN to one"
            )
        version = found[0]
    prog = program_dir(tws_path, product, version)
    jars_dir = prog / "jars"
    if not jars_dir.is_dir():
        raise InstallError(f"offline {product} version {version} is not installed: {jars_dir} is missing")
    jars = tuple(sorted(jars_dir.glob("*.jar")))
    if not jars:
        raise InstallError(f"{jars_dir} holds no .jar files")
    i4j_runtime = prog / ".install4j" / "i4jruntime.jar"  # on IBC's classpath too (gateway-ui.md §1.2)
    if i4j_runtime.is_file():
        jars = (*jars, i4j_runtime)
    vm_path = prog / VMOPTIONS_NAME[product]
    if not vm_path.is_file():
        raise InstallError(f"{vm_path} is missing (every {product} install has one)")
    return Install(
        product=product,
        version=version,
        program_dir=prog,
        jars=jars,
        vmoptions=read_vmoptions(vm_path),
        jre_home=_jre_home(prog),
        jxbrowser_key=_jxbrowser_key(prog),
    )
