"""`ibpilot audit` on the real stack (simulated Gateway): clean with every secret set, and failing on a
stack whose hook script leaks the password (a world-readable file in RUN_DIR, a log line, an argv)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RunningStack, StackFactory

from ibpilot.testing import free_port, wait_until

pytestmark = [pytest.mark.system, pytest.mark.timeout(240)]

TOTP = "JBSWY3DPEHPK3PXPQ7MZ"
VNC_PW = "Vq3-au8x"
UI_PASS = "Ui-audit-7h2k9"
TOKEN = "cmd-token-5kq8w2"
PASSPHRASE = "ssh-pass-4z9x1c"


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    """A local webhook receiver: the URL (whose path is a secret token) and what it received."""
    got: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/hook/Wh00k-t0ken-8c1e9a", got
    finally:
        srv.shutdown()
        srv.server_close()


def all_secrets_stack(stacks: StackFactory, webhook: str, **extra: str) -> RunningStack:
    # the password notice raises ALERT_PASSWORD_EXPIRY: one delivery to the webhook, so that path runs too
    st = stacks({"second_factor": "totp", "totp_secret": TOTP, "password_notice_days": 5}, start=False)
    st.env.update(
        TWOFACTOR_CODE=TOTP,
        VNC_SERVER_PASSWORD=VNC_PW,
        VNC_PORT=str(st.ports["vnc"]),
        VNC_BIND="127.0.0.1",
        NOVNC_PORT=str(st.ports["novnc"]),
        NOVNC_BIND="127.0.0.1",
        SUPERVISORD_UI_PORT=str(st.ports["ui"]),
        SUPERVISORD_UI_USER="admin",
        SUPERVISORD_UI_PASS=UI_PASS,
        HEALTH_PORT=str(free_port()),
        COMMAND_SERVER_PORT=str(free_port()),
        COMMAND_SERVER_TOKEN=TOKEN,
        ALERT_WEBHOOK_URL=webhook,
        SSH_PASSPHRASE=PASSPHRASE,
        **extra,
    )
    return st.start()


def audit(st: RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ibpilot", "audit", *args], env=st.env, capture_output=True,
                          text=True, timeout=120, check=False)


SECRETS = (TOTP, VNC_PW, UI_PASS, TOKEN, PASSPHRASE, "Wh00k-t0ken-8c1e9a", "Tw5-P4ssw0rd-xyzzy")


def test_audit_is_clean_on_the_running_stack(stacks: StackFactory, receiver: tuple[str, list[bytes]]) -> None:
    st = all_secrets_stack(stacks, receiver[0], LOG_LEVEL="debug")  # debug lines are where leaks hide
    try:
        st.wait_ready("paper", timeout=90)
        wait_until(lambda: any(b"ALERT_PASSWORD_EXPIRY" in b for b in receiver[1]), 30, "the alert delivered")
        # a browser opening noVNC the way `ibpilot demo` shows it: the password in the URL's query
        url = f"http://127.0.0.1:{st.ports['novnc']}/vnc.html?autoconnect=1&password={VNC_PW}"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.status == 200
        r = audit(st)
        assert r.returncode == 0, r.stdout + r.stderr + st.diagnostics()
        assert "ibpilot audit: clean" in r.stdout
        rj = audit(st, "--json")
        doc = json.loads(rj.stdout)
        assert rj.returncode == 0 and doc["ok"] is True and doc["findings"] == []
        # it really looked: processes, files, answers of HTTP/command server/status, VNC, the UI, listeners
        checked = doc["checked"]
        assert checked["files"] >= 5 and checked["environments"] >= 5 and checked["listeners"] >= 5, checked
        assert checked["answers"] >= 8 and checked["vnc servers"] == 1 and checked["web UIs"] == 1, checked
        for secret in SECRETS:
            assert secret not in r.stdout + r.stderr + rj.stdout
            assert secret not in st.output()  # `ibpilot run`'s own output (docker logs): not a file the audit sees
    finally:
        st.terminate()


LEAK = """\
cat "$TWS_PASSWORD_FILE" > "$RUN_DIR/leaked.txt"
chmod 644 "$RUN_DIR/leaked.txt"
echo "debug: password is $(cat "$TWS_PASSWORD_FILE")"
nohup sh -c 'sleep 600' leaker "$(cat "$COMMAND_SERVER_TOKEN_FILE")" >/dev/null 2>&1 &
touch "$RUN_DIR/hook-done"
"""


def test_audit_fails_on_a_leaking_hook(stacks: StackFactory, receiver: tuple[str, list[bytes]], tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "leak.sh").write_text(LEAK)
    st = all_secrets_stack(stacks, receiver[0], IBC_SCRIPTS=str(hooks))
    try:
        st.wait_ready("paper", timeout=90)
        wait_until(lambda: (st.run_dir / "hook-done").exists(), 30, "the leaking hook ran", 0.1)
        r = audit(st)
        out = r.stdout + r.stderr
        assert r.returncode == 1, out
        leaked = st.run_dir / "leaked.txt"
        assert f"FINDING file: TWS_PASSWORD found in file {leaked} (readable by group/other)" in out, out
        assert f"FINDING file: TWS_PASSWORD found in file {st.run_dir / 'logs' / 'ibc-scripts.log'}" in out, out
        # `ibpilot run` echoes the programs' logs: its stdout (here a file it holds open) has the line too
        assert f"FINDING file: TWS_PASSWORD found in file {st.out_path}" in out, out
        # the hook's background process outlived the hook (reparented away from the stack): argv of any process
        assert "FINDING argv: COMMAND_SERVER_TOKEN in the argv of sh (pid " in out, out
        for secret in SECRETS:
            assert secret not in out
        doc = json.loads(audit(st, "--json").stdout)
        assert {(f["check"], f["secret"]) for f in doc["findings"]} >= {("file", "TWS_PASSWORD"),
                                                                        ("argv", "COMMAND_SERVER_TOKEN")}
    finally:
        st.terminate()
