"""What the configuration needs from this machine's file system: an installed Gateway/TWS at TWS_PATH
(unless IBPILOT_SIM=yes installs the simulator there) and an existing GATEWAY_WARM_STATE directory.

`check-config` and `ibpilot run` both ask `system_errors`, so they cannot disagree about what is missing.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

from ibpilot.gateway.install import InstallError, find_install, installed_versions
from ibpilot.settings.show import echo, secrets_of

if TYPE_CHECKING:
    from ibpilot.settings.schema import Settings

MESSAGE_MAX = 400  # an OS error can repeat a very long path


def system_errors(settings: Settings, skip: Collection[str] = ()) -> list[str]:
    """Every problem of this machine for `settings`, as messages (empty: nothing missing).

    `skip`: attributes whose value was refused (their defaults stand in; checking them would mislead).
    """
    s = settings
    secrets = secrets_of(s)
    errors: list[str] = []
    install_attrs = {"tws_path", "gateway_or_tws", "tws_major_vrsn", "ibpilot_sim"}
    if not install_attrs & set(skip):
        tws_path = Path(s.tws_path).expanduser()
        try:
            on_demand = s.ibpilot_sim and not installed_versions(tws_path, s.gateway_or_tws)
            if not on_demand:  # IBPILOT_SIM=yes and nothing there: `run` installs the simulator
                find_install(tws_path, s.gateway_or_tws, s.tws_major_vrsn)
        except (InstallError, OSError) as exc:
            hint = "" if s.ibpilot_sim else " (or set IBPILOT_SIM=yes to try the simulator)"
            shown = echo(s.tws_path, secrets)
            detail = str(exc) if shown == repr(s.tws_path) else str(exc).replace(str(tws_path), "TWS_PATH")
            errors.append(f"TWS_PATH={shown}: {_cut(detail)}{hint}")
    warm = s.gateway_warm_state
    if "gateway_warm_state" not in skip and warm is not None and warm.startswith("/"):
        try:
            is_dir = Path(warm).is_dir()
        except OSError:
            is_dir = False
        if not is_dir:
            errors.append(f"GATEWAY_WARM_STATE={echo(warm, secrets)} is not a directory (it is copied into the "
                          "settings directory before each cold start)")
    return errors


def _cut(message: str) -> str:
    return message if len(message) <= MESSAGE_MAX else message[:MESSAGE_MAX] + "…"
