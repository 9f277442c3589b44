import pyotp

from ibpilot.controller.second_factor import choose_device, totp_at, totp_code, valid_base32

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"  # pyotp wants >= 112 bits; ibpilot takes shorter ones too


def test_matches_pyotp_and_rfc6238_vector() -> None:
    for t in (59, 1111111109, 1234567890, 2000000000):
        assert totp_at(SECRET, t) == pyotp.TOTP(SECRET).at(t)
    # RFC 6238 appendix B, SHA1, secret "12345678901234567890", 8 digits
    rfc = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp_at(rfc, 59, digits=8) == "94287082"
    assert totp_at(rfc, 1111111109, digits=8) == "07081804"
    assert len(totp_at("JBSWY3DPEHPK3PXP", 59)) == 6  # 80-bit secret accepted


def test_code_is_current_when_fresh() -> None:
    now = 1_700_000_020.0  # 10 s into a 30 s step
    code, wait = totp_code(SECRET, now)
    assert wait == 0.0
    assert code == pyotp.TOTP(SECRET).at(now)


def test_waits_for_next_step_when_about_to_expire() -> None:
    now = 1_700_000_038.5  # 1.5 s left in the step
    code, wait = totp_code(SECRET, now)
    assert 1.5 < wait < 2.0
    assert code == pyotp.TOTP(SECRET).at(now + 30 - 28.5 + 0.05)
    assert code != pyotp.TOTP(SECRET).at(now)


def test_base32_validation() -> None:
    assert valid_base32(SECRET)
    assert not valid_base32("not base32 !!")
    assert not valid_base32("")


def test_device_choice() -> None:
    items = [" IB Key", " Mobile Authenticator app"]
    assert choose_device(items, "Mobile Authenticator app", True) == 1
    assert choose_device(items, "ib key", False) == 0
    assert choose_device(items, "SMS", False) is None
    assert choose_device(items, "", True) == 1
    assert choose_device(items, "", False) == 0
    assert choose_device([" Only One"], "", False) == 0
    assert choose_device([" A", " B"], "", False) is None
