import pytest

from ibpilot.gateway import jts_ini


def test_creates_what_ibc_creates() -> None:
    text = jts_ini.apply("", jts_ini.wanted_keys(product="tws"))
    assert text.splitlines() == [
        "[Logon]",
        "s3store=true",
        "Locale=en",
        "displayedproxymsg=1",
        "UseSSL=true",
        "[IBGateway]",
        "ApiOnly=true",
    ]


def test_keeps_user_keys_and_existing_s3store_and_rewrites_others() -> None:
    old = "[Logon]\n# mine\ns3store=false\nLocale=de\nColorPalletName=dark\n\n[Other]\nx=1\n"
    keys = jts_ini.wanted_keys(product="gateway", trusted_ips=["10.0.0.5"], time_zone="Europe/Berlin")
    new = jts_ini.apply(old, keys)
    lines = new.splitlines()
    assert "s3store=false" in lines  # kept, as IBC does
    assert "Locale=en" in lines and "Locale=de" not in lines
    assert "# mine" in lines and "ColorPalletName=dark" in lines and "x=1" in lines
    assert "TimeZone=Europe/Berlin" in lines
    assert lines[-3:] == ["[IBGateway]", "ApiOnly=true", "TrustedIPs=127.0.0.1,10.0.0.5"]
    # missing Logon keys are inserted inside [Logon], before the blank line that ends it
    assert lines.index("UseSSL=true") < lines.index("[Other]")


def test_apply_is_idempotent(tmp_path) -> None:
    p = tmp_path / "jts.ini"
    keys = jts_ini.wanted_keys(product="gateway", server="gdc1.ibllc.com")
    assert jts_ini.ensure(p, keys) is True
    assert jts_ini.ensure(p, keys) is False
    assert "Peer=gdc1.ibllc.com:4001" in p.read_text()


@pytest.mark.parametrize("bad", ["bad host", "-x.com", "a" * 64, "", "x..y"])
def test_rejects_bad_server_names(bad: str) -> None:
    with pytest.raises(ValueError):
        jts_ini.wanted_keys(product="gateway", server=bad or " ")


def test_directory_is_an_error(tmp_path) -> None:
    with pytest.raises(IsADirectoryError):
        jts_ini.ensure(tmp_path, {})
