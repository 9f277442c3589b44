from pathlib import Path

import pytest

from ibpilot.gateway.install import InstallError, find_install
from ibpilot.gateway.jvm import JvmOptions, build_command, find_autorestart


def make_install(root: Path, product: str = "gateway", version: str = "1037") -> Path:
    prog = root / "ibgateway" / version if product == "gateway" else root / version
    (prog / "jars").mkdir(parents=True)
    (prog / "jars" / "b.jar").write_bytes(b"")
    (prog / "jars" / "a.jar").write_bytes(b"")
    name = "ibgateway" if product == "gateway" else "tws"
    (prog / f"{name}.vmoptions").write_text("# comment\n-Xmx768m\n\n-XX:+UseG1GC\n-Dfoo=bar\n")
    (prog / ".install4j").mkdir()
    (prog / ".install4j" / "inst_jre.cfg").write_text("/opt/jre\n")
    (prog / ".install4j" / "i4jparams.conf").write_text('<variable name="x" value="-DjxBrowserKey=KEY123"/>')
    return prog


def test_finds_the_only_version_and_reads_everything(tmp_path: Path) -> None:
    prog = make_install(tmp_path)
    inst = find_install(tmp_path, "gateway")
    assert inst.version == "1037" and inst.program_dir == prog
    assert [j.name for j in inst.jars] == ["a.jar", "b.jar"]
    assert inst.vmoptions == ("-Xmx768m", "-XX:+UseG1GC", "-Dfoo=bar")
    assert inst.jre_home == Path("/opt/jre")
    assert inst.jxbrowser_key == "KEY123"
    assert inst.main_class == "ibgateway.GWClient"


def test_install4j_runtime_follows_the_jars_on_the_classpath(tmp_path: Path) -> None:
    prog = make_install(tmp_path)
    (prog / ".install4j" / "i4jruntime.jar").write_bytes(b"")
    inst = find_install(tmp_path, "gateway")
    assert [j.name for j in inst.jars] == ["a.jar", "b.jar", "i4jruntime.jar"]  # IBC's order


def test_tws_layout(tmp_path: Path) -> None:
    make_install(tmp_path, "tws", "1030")
    inst = find_install(tmp_path, "tws")
    assert inst.main_class == "jclient.LoginFrame" and inst.version == "1030"


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match="no gateway installation found"):
        find_install(tmp_path, "gateway")
    make_install(tmp_path, "gateway", "1030")
    make_install(tmp_path, "gateway", "1037")
    with pytest.raises(InstallError, match=r"several gateway versions.*1030, 1037.*TWS_MAJOR_VRSN"):
        find_install(tmp_path, "gateway")
    with pytest.raises(InstallError, match="1099 is not installed"):
        find_install(tmp_path, "gateway", "1099")


def test_command_keeps_user_d_options_and_adds_agent(tmp_path: Path) -> None:
    make_install(tmp_path)
    inst = find_install(tmp_path, "gateway")
    opts = JvmOptions(
        settings_dir=tmp_path / "s",
        agent_jar=Path("/a/agent.jar"),
        agent_socket=Path("/run/x.sock"),
        heap_mb=2048,
        extra=["-Dmine=1"],
        restart_subdir="abcdef",
    )
    cmd = build_command(inst, "/usr/bin/java", opts)
    assert cmd[0] == "/usr/bin/java"
    assert "-Dfoo=bar" in cmd and "-Dmine=1" in cmd
    assert "-Xmx2048m" in cmd and "-Xmx768m" not in cmd
    assert f"-DjtsConfigDir={tmp_path / 's'}" in cmd
    assert "-Drestart=abcdef" in cmd and "-DjxBrowserKey=KEY123" in cmd
    assert "-Dexe4j.isInstall4j=true" in cmd and "-Dinstall4jType=standalone" in cmd  # as IBC starts it
    assert "-javaagent:/a/agent.jar=socket=/run/x.sock" in cmd
    assert cmd[-2:] == ["ibgateway.GWClient", str(tmp_path / "s")]
    cp = cmd[cmd.index("-cp") + 1]
    assert cp.endswith("a.jar:" + str(inst.jars[1]))


def test_a_users_own_launcher_property_wins(tmp_path: Path) -> None:
    make_install(tmp_path)
    inst = find_install(tmp_path, "gateway")
    cmd = build_command(inst, "java", JvmOptions(settings_dir=tmp_path, extra=["-Dchannel=beta"]))
    assert "-Dchannel=beta" in cmd and "-Dchannel=latest" not in cmd


def test_autorestart_detection(tmp_path: Path) -> None:
    assert find_autorestart(tmp_path / "missing") is None
    (tmp_path / "x1").mkdir()
    (tmp_path / "x1" / "autorestart").write_text("")
    assert find_autorestart(tmp_path) == "x1"
    (tmp_path / "x2").mkdir()
    (tmp_path / "x2" / "autorestart").write_text("")
    assert find_autorestart(tmp_path) is None  # several: all deleted, full login (as IBC)
    assert not list(tmp_path.glob("*/autorestart"))
