"""Every shell command shown in the documentation runs, and exits as the documentation says.

Every fenced ```sh block of README.md and docs/*.md is extracted (one command per line, `\\` continuations
joined; comment-only lines are not commands) and run for real. The blocks of one file run in order in one
bash session (so `export` and files written by one command reach the next), inside a sandbox made for that
file: a private network namespace (loopback only, so the documented default ports are free), a private
/tmp (so Xvfb's display locks do not meet other users'), an empty HOME and working directory, and an
environment reduced to PATH (the project's .venv first), HOME, LANG and USER. The working directory holds
a copy of docs/examples/, as a checkout does (commands are shown as run from a checkout). Each command's exit code is
checked: 0, unless its line ends with `# docs-test: exit N`.

Markers (trailing comments on a command line, or an HTML comment `<!-- docs-test: ... -->` on the line just
before the fence, which then applies to every command of the block):

- `# docs-test: exit N`   the command is expected to exit with N;
- `# docs-test: until REGEX`   a long-running foreground command (`ibpilot run`, `ibpilot demo`): it is
  started in the background, must print a line matching REGEX within 120 s, is then sent SIGTERM (what
  `docker stop` sends) and must exit 0; a block-level `until` applies to the block's last command;
- `# docs-test: skip REASON`   not run (only where running it is impossible here: a real IBKR account or
  installation). Skipped commands are listed by `test_skipped_commands_are_few_and_explained`.

`make TARGET` commands run as `make -n TARGET` in the repository (a dry run: the real targets install
Debian packages, or run until Ctrl-C); this checks the target exists and its recipe expands.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARK = re.compile(r"#\s*docs-test:\s*(skip|exit|until)\b\s*(.*?)\s*$")
BLOCK_MARK = re.compile(r"^<!--\s*docs-test:\s*(skip|exit|until)\b\s*(.*?)\s*-->\s*$")
UNTIL_TIMEOUT_S = 120
FILE_TIMEOUT_S = 400


@dataclass(frozen=True)
class Command:
    file: str  # relative to the repository
    line: int  # 1-based line of the command's first line
    text: str
    exit: int = 0
    skip: str | None = None
    until: str | None = None

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def _directive(kind: str, arg: str, where: str) -> dict[str, object]:
    if kind == "exit":
        if not arg.isdigit():
            raise ValueError(f"{where}: `docs-test: exit` needs a number, got {arg!r}")
        return {"exit": int(arg)}
    if not arg:
        raise ValueError(f"{where}: `docs-test: {kind}` needs a {'reason' if kind == 'skip' else 'pattern'}")
    return {kind: arg}


def extract(path: Path, root: Path = ROOT) -> list[Command]:
    """The commands of every ```sh block of `path`, with their docs-test markers."""
    rel = str(path.relative_to(root))
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[Command] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```sh":
            i += 1
            continue
        block: dict[str, object] = {}
        prev = lines[i - 1].strip() if i else ""
        if m := BLOCK_MARK.match(prev):
            block = _directive(m.group(1), m.group(2), f"{rel}:{i}")
        i += 1
        cmds: list[Command] = []
        while i < len(lines) and lines[i].strip() != "```":
            start, text = i, lines[i]
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text + "\n" + lines[i]
            i += 1
            if not text.strip() or text.lstrip().startswith("#"):
                continue
            marks: dict[str, object] = {}
            if m := MARK.search(text):
                marks = _directive(m.group(1), m.group(2), f"{rel}:{start + 1}")
            cmds.append(Command(rel, start + 1, text, **{**{k: v for k, v in block.items() if k != "until"},
                                                          **marks}))  # type: ignore[arg-type]
        if i >= len(lines):
            raise ValueError(f"{rel}: unterminated ```sh block")
        if "until" in block and cmds:
            last = cmds[-1]
            cmds[-1] = Command(last.file, last.line, last.text, last.exit, last.skip, str(block["until"]))
        out += cmds
        i += 1
    return out


ALL = [c for f in DOC_FILES for c in extract(f)]
RUN = [c for c in ALL if c.skip is None]


def _script(cmds: list[Command]) -> str:
    """One bash script for one file's commands; exit codes go to fd $DOCS_TEST_FD as `index code` lines."""
    parts = ["set +e"]
    for n, c in enumerate(cmds):
        parts.append(f"printf '\\n\\n=== %s\\n' {shlex.quote(c.id + ': ' + c.text)}")
        if c.skip is not None:
            continue
        text = c.text
        if re.match(r"\s*make\s", text):
            text = re.sub(r"^\s*make\s", f"make -n -C {shlex.quote(str(ROOT))} ", text)
        if c.until is None:
            parts += [text, f'echo "{n} $?" >&"$DOCS_TEST_FD"']
            continue
        log = f"$WORK/.docs-test-{n}.log"
        bare = re.sub(r"\s#[^'\"\n]*$", "", text).rstrip()  # a trailing comment would swallow the redirection
        parts += [
            f"{bare} > {log} 2>&1 &",
            "bgpid=$!; found=no",
            f"for _ in $(seq {UNTIL_TIMEOUT_S * 2}); do",
            f"  if grep -Eq {shlex.quote(c.until)} {log}; then found=yes; break; fi",
            '  kill -0 "$bgpid" 2>/dev/null || break',
            "  sleep 0.5",
            "done",
            'kill -TERM "$bgpid" 2>/dev/null; wait "$bgpid"; rc=$?',
            f"cat {log}",
            f'if [ "$found" = yes ]; then echo "{n} $rc" >&"$DOCS_TEST_FD"',
            f'else echo "{n} until-not-seen" >&"$DOCS_TEST_FD"; fi',
        ]
    return "\n".join(parts) + "\n"


SANDBOX = """
set -e
mount -t tmpfs -o mode=1777 tmpfs /tmp
mkdir -m 1777 /tmp/.X11-unix
ip link set lo up
mkdir /tmp/home /tmp/work /tmp/work/docs
cp -r "$DOCS_EXAMPLES" /tmp/work/docs/examples
cd /tmp/work
export HOME=/tmp/home WORK=/tmp/work
exec bash "$0"
"""


@cache
def run_file(rel: str) -> tuple[dict[int, str], str]:
    """Run every command of one documentation file in a fresh sandbox: ({index: exit code}, transcript)."""
    cmds = [c for c in ALL if c.file == rel]
    with tempfile.TemporaryDirectory(prefix="ibpilot-docs-", dir=os.environ.get("TMPDIR")) as tmp:
        script = Path(tmp) / "script.sh"
        script.write_text(_script(cmds))
        results = Path(tmp) / "results"
        env = {"DOCS_EXAMPLES": str(ROOT / "docs" / "examples"), "PATH": f"{BIN}:/usr/local/bin:/usr/bin:/bin",
               "LANG": "C.UTF-8", "TERM": "dumb",
               "USER": os.environ.get("USER", "ibpilot"), "LOGNAME": os.environ.get("USER", "ibpilot")}
        # Both files are passed as open fds: they survive the private /tmp mounted over this directory.
        with results.open("w") as res, script.open() as src:
            env["DOCS_TEST_FD"] = str(res.fileno())
            proc = subprocess.run(
                ["unshare", "--user", "--map-root-user", "--net", "--mount", "--pid", "--fork", "--kill-child",
                 "--mount-proc", "bash", "-c",
                 SANDBOX.replace('"$0"', f"/dev/fd/{src.fileno()}")],
                env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True, timeout=FILE_TIMEOUT_S, pass_fds=(src.fileno(), res.fileno()),
            )
        codes = dict(line.split(" ", 1) for line in results.read_text().splitlines())
        return {int(k): v for k, v in codes.items()}, proc.stdout


def test_every_doc_has_been_read() -> None:
    """The extraction sees the documentation: README's two commands and the docs' blocks are in the list."""
    texts = [c.text.split("#")[0].strip() for c in ALL]
    assert "make demo" in texts and "make test" in texts
    assert {c.file for c in RUN} >= {"README.md", "docs/quickstart.md", "docs/operations.md", "docs/ci.md"}
    assert shutil.which("unshare") and shutil.which("ip"), "the sandbox needs unshare and ip (util-linux, iproute2)"


def test_skipped_commands_are_few_and_explained() -> None:
    skipped = [c for c in ALL if c.skip is not None]
    for c in skipped:
        assert len(c.skip or "") >= 10, f"{c.id}: `docs-test: skip` needs a reason"
    assert len(skipped) <= len(ALL) // 4, [c.id for c in skipped]


@pytest.mark.parametrize("cmd", RUN, ids=[c.id for c in RUN])
def test_documented_command(cmd: Command) -> None:
    codes, transcript = run_file(cmd.file)
    n = [c for c in ALL if c.file == cmd.file].index(cmd)
    got = codes.get(n, "not reached")
    # The transcript of this command (and the file's tail when it was not reached).
    section = transcript.split(f"=== {cmd.id}: ", 1)[-1].split("\n\n=== ", 1)[0][-4000:]
    assert got == str(cmd.exit), (
        f"{cmd.id}: `{cmd.text}` exited {got}, the documentation says {cmd.exit}\n--- output ---\n{section}"
    )


def test_extract_markers(tmp_path: Path) -> None:
    """The markdown parser: continuations, comments, markers, block markers, make."""
    doc = tmp_path / "probe.md"
    doc.write_text(
        "text\n```sh\n# a comment\necho a \\\n  b   # docs-test: exit 3\n\n"
        "false  # docs-test: skip a reason here\n```\n"
        "<!-- docs-test: until READY mode= -->\n```sh\necho one\nibpilot run\n```\n```text\nnot a command\n```\n"
    )
    got = extract(doc, tmp_path)
    assert [(c.line, c.text, c.exit, c.skip, c.until) for c in got] == [
        (4, "echo a \\\n  b   # docs-test: exit 3", 3, None, None),
        (7, "false  # docs-test: skip a reason here", 0, "a reason here", None),
        (11, "echo one", 0, None, None),
        (12, "ibpilot run", 0, None, "READY mode="),
    ]
    script = _script([Command("x.md", 1, "make demo"),
                      Command("x.md", 2, "ibpilot run   # docs-test: until READY", until="READY")])
    assert f"make -n -C {shlex.quote(str(ROOT))} demo" in script and "kill -TERM" in script
    assert "\nibpilot run > $WORK/.docs-test-1.log 2>&1 &\n" in script
