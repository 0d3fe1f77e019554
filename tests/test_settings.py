import configparser
import ipaddress
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.settings import Endpoint, load, schema
from tests.conftest import ROOT, run_cli

SHIPPED = ROOT / "gateway.ini"


def write_ini(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.ini"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_file_lists_every_key_of_the_schema() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SHIPPED, encoding="utf-8")
    in_file = {(section, key) for section in parser.sections() for key in parser[section]}
    in_schema = {(section, key) for section, keys in schema().items() for key in keys}
    assert in_file - in_schema == set()
    assert in_schema - in_file == set()


def test_shipped_file_comments_every_key() -> None:
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[number - 1].startswith("# "), f"line {number + 1} {line!r} has no comment above it"


def test_shipped_file_values_equal_defaults() -> None:
    from_file = load(SHIPPED, environ={})
    defaults = load(None, environ={})
    for section in schema():
        assert getattr(from_file, section) == getattr(defaults, section), section


def test_defaults_work_on_loopback() -> None:
    settings = load(None, environ={})
    assert settings.smtp.listen == (Endpoint("127.0.0.1", 2525),)
    assert settings.relay.smarthost == Endpoint("127.0.0.1", 25)
    assert ipaddress.ip_network("127.0.0.0/8") in settings.smtp.trusted_networks
    assert settings.invitation.otp_sequence == 499
    assert settings.invitation.otp_refresh_below == 10
    assert settings.invitation.otp_algorithm == "md5"
    assert settings.relay.retry_schedule == (60, 300, 900, 3600, 14400)
    assert settings.relay.max_queue_lifetime == 5 * 86400
    assert settings.invitation_from == "imip-gateway@localhost"


def test_settings_are_frozen() -> None:
    settings = load(None, environ={})
    with pytest.raises(AttributeError):
        settings.smtp.require_tls = True  # type: ignore[misc]


def test_relative_paths_follow_file_folder(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[gateway]\nstate_dir = var/state\n[crypto]\nsmime_crls = a.crl, b.crl\n")
    settings = load(path, environ={})
    assert settings.gateway.state_dir == str(tmp_path / "var/state")
    assert settings.crypto.smime_crls == (str(tmp_path / "a.crl"), str(tmp_path / "b.crl"))
    assert settings.gnupg_home == tmp_path / "var/state/gnupg"


def test_unknown_key_names_file_section_and_key(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[smtp]\nlisten = 127.0.0.1:25\nmax_mesage_size = 10\n")
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    message = str(caught.value)
    assert str(path) in message
    assert "[smtp]" in message
    assert "'max_mesage_size'" in message
    assert "max_message_size" in message


def test_unknown_section_is_rejected(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[smpt]\nlisten = 127.0.0.1:25\n")
    with pytest.raises(ConfigError, match=r"unknown section \[smpt\]"):
        load(path, environ={})


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("smtp", "listen", "localhost", "host:port"),
        ("smtp", "listen", "127.0.0.1:70000", "port from 1 to 65535"),
        ("smtp", "trusted_networks", "10.0.0.1/8", "CIDR"),
        ("smtp", "require_tls", "maybe", "true or false"),
        ("relay", "retry_schedule", "1m, soon", "duration"),
        ("relay", "starttls", "always", "none, opportunistic, required"),
        ("invitation", "otp_algorithm", "sha256", "md4, md5, sha1"),
        ("invitation", "methods", "otpkey, fax", "otpkey, url"),
        ("invitation", "otp_sequence", "many", "whole number"),
        ("web", "public_url", "ftp://x", "http:// or https:// URL"),
    ],
)
def test_invalid_value_names_it(tmp_path: Path, section: str, key: str, value: str, expected: str) -> None:
    path = write_ini(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as caught:
        load(path, environ={})
    message = str(caught.value)
    assert f"[{section}] {key} = {value!r}" in message
    assert str(path) in message
    assert expected in message


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[smtp]\nlisten = 127.0.0.1:2525\n")
    settings = load(path, environ={"IMIP_GATEWAY_SMTP_LISTEN": "127.0.0.2:2600, [::1]:2601"})
    assert settings.smtp.listen == (Endpoint("127.0.0.2", 2600), Endpoint("::1", 2601))
    assert str(settings.smtp.listen[1]) == "[::1]:2601"


def test_environment_key_with_underscores() -> None:
    settings = load(None, environ={"IMIP_GATEWAY_RELAY_MAX_QUEUE_LIFETIME": "2h"})
    assert settings.relay.max_queue_lifetime == 7200


def test_invalid_environment_value_names_variable() -> None:
    with pytest.raises(ConfigError, match=r"environment variable IMIP_GATEWAY_SMTP_REQUIRE_TLS: \[smtp\] require_tls"):
        load(None, environ={"IMIP_GATEWAY_SMTP_REQUIRE_TLS": "perhaps"})


def test_unknown_environment_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="IMIP_GATEWAY_SMTP_LISTNE"):
        load(None, environ={"IMIP_GATEWAY_SMTP_LISTNE": "127.0.0.1:25"})


def test_imap_without_username_says_it_cannot_be_guessed() -> None:
    with pytest.raises(ConfigError, match=r"\[imap\] enabled = true: username cannot be guessed"):
        load(None, environ={"IMIP_GATEWAY_IMAP_ENABLED": "true"})


def test_refresh_threshold_must_be_below_sequence() -> None:
    with pytest.raises(ConfigError, match="otp_refresh_below = 600"):
        load(None, environ={"IMIP_GATEWAY_INVITATION_OTP_REFRESH_BELOW": "600"})


def test_check_config_on_shipped_file_exits_0() -> None:
    result = run_cli("-c", str(SHIPPED), "check-config")
    assert result.returncode == 0, result.stderr
    assert "[smtp]\nlisten = 127.0.0.1:2525\n" in result.stdout
    assert "self-signed" in result.stderr


def test_check_config_misspelt_key_exits_1(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[relay]\nsmarthots = 127.0.0.1:25\n")
    result = run_cli("-c", str(path), "check-config")
    assert result.returncode == 1
    assert "[relay] unknown key 'smarthots'" in result.stderr
    assert str(path) in result.stderr


def test_check_config_bad_value_exits_1(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[smtp]\nmax_message_size = huge\n")
    result = run_cli("-c", str(path), "check-config")
    assert result.returncode == 1
    assert "[smtp] max_message_size = 'huge' is invalid" in result.stderr


def test_check_config_missing_named_file_exits_1(tmp_path: Path) -> None:
    result = run_cli("-c", str(tmp_path / "nope.ini"), "check-config")
    assert result.returncode == 1
    assert "settings file not found" in result.stderr


def test_check_config_warns_on_open_trusted_network(tmp_path: Path) -> None:
    path = write_ini(tmp_path, "[smtp]\ntrusted_networks = 0.0.0.0/0\n")
    result = run_cli("-c", str(path), "check-config")
    assert result.returncode == 0
    assert "open relay" in result.stderr
    assert "require_tls is false" in result.stderr


def test_check_config_warns_on_self_signed_certificate(tmp_path: Path) -> None:
    import subprocess

    from tests.conftest import require_tool

    openssl = require_tool("openssl")
    cert, key = tmp_path / "gw.pem", tmp_path / "gw.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=gateway",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    path = write_ini(tmp_path, f"[crypto]\nsmime_cert = {cert}\nsmime_key = {key}\n")
    result = run_cli("-c", str(path), "check-config")
    assert result.returncode == 0
    assert f"[crypto] smime_cert {cert} is self-signed" in result.stderr
