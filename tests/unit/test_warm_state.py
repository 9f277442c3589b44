from pathlib import Path

import pytest

from ibpilot.gateway import warm_state


def test_copies_files_skips_logs_and_program_dirs_and_links(tmp_path: Path) -> None:
    src, dst = tmp_path / "warm", tmp_path / "settings"
    (src / "abcdefgh").mkdir(parents=True)
    (src / "jts.ini").write_text("[Logon]\nPeer=gdc1.ibllc.com:4001\n")
    (src / "abcdefgh" / "tws.xml").write_text("<x/>")
    (src / "launcher.2026.log").write_text("old log")
    (src / "ibgateway").mkdir()
    (src / "ibgateway" / "big.jar").write_bytes(b"x")
    (src / "link").symlink_to("/etc/passwd")
    dst.mkdir()
    (dst / "keep.txt").write_text("mine")
    assert warm_state.apply(src, dst) == 3  # jts.ini, tws.xml, and the link (counted, never followed)
    assert (dst / "jts.ini").read_text().startswith("[Logon]")
    assert (dst / "abcdefgh" / "tws.xml").exists()
    assert not (dst / "launcher.2026.log").exists() and not (dst / "ibgateway").exists()
    assert not (dst / "link").exists()
    assert (dst / "keep.txt").read_text() == "mine"


def test_refuses_what_is_not_a_settings_directory(tmp_path: Path) -> None:
    with pytest.raises(warm_state.WarmStateError, match="not a directory"):
        warm_state.apply(tmp_path / "missing", tmp_path / "dst")
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "f").write_bytes(b"x" * 2048)
    with pytest.raises(warm_state.WarmStateError, match="limit"):
        warm_state.apply(tmp_path / "big", tmp_path / "dst", max_bytes=1024)
