"""The security flags: TLS files, the API key (--api_key_file / API_KEY, OVMS's precedence), CORS lists."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from certs import make_ca, server_cert

from ovserve.cli import parse_args
from ovserve.config.types import CorsConfig, SecurityConfig, ServerConfig, TlsConfig
from ovserve.errors import ConfigError

MODEL = ["--port", "9178", "--model_name", "m", "--model_path", "/models/m"]


def run(cwd: Path, *argv: str, env: Mapping[str, str] | None = None) -> ServerConfig:
    return parse_args(
        [*MODEL, *argv], env or {}, cwd=str(cwd), default_cache_dir=str(cwd / "none"), cpu_count=2
    )


def fails(cwd: Path, *argv: str, key: str, fragment: str, env: Mapping[str, str] | None = None) -> None:
    with pytest.raises(ConfigError) as err:
        run(cwd, *argv, env=env)
    assert err.value.key == key, str(err.value)
    assert fragment in err.value.problem, err.value.problem


def test_defaults_are_ovms_defaults(tmp_path: Path) -> None:
    security = run(tmp_path).security
    assert security == SecurityConfig(tls=None, api_key=None, cors=CorsConfig(("*",), ("*",), ("*",), False))


# --- API key ------------------------------------------------------------------------------------


def test_api_key_file_first_line_trailing_whitespace_trimmed(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("s3cret-key \t\r\nsecond line\n")
    assert run(tmp_path, "--api_key_file", "key.txt").security.api_key == "s3cret-key"


def test_api_key_file_wins_over_env(tmp_path: Path) -> None:
    (tmp_path / "key.txt").write_text("from-file\n")
    assert (
        run(tmp_path, "--api_key_file", "key.txt", env={"API_KEY": "from-env"}).security.api_key
        == "from-file"
    )


def test_api_key_from_env_without_the_flag(tmp_path: Path) -> None:
    assert run(tmp_path, env={"API_KEY": "from-env\n"}).security.api_key == "from-env"
    assert run(tmp_path, env={"API_KEY": ""}).security.api_key is None


def test_api_key_is_not_shown_in_repr(tmp_path: Path) -> None:
    assert "from-env" not in repr(run(tmp_path, env={"API_KEY": "from-env"}))


def test_api_key_file_errors(tmp_path: Path) -> None:
    fails(
        tmp_path,
        "--api_key_file",
        "missing.txt",
        key="--api_key_file",
        fragment="Unable to open file missing.txt",
    )
    (tmp_path / "empty.txt").write_text("\nkey on line two\n")
    fails(tmp_path, "--api_key_file", "empty.txt", key="--api_key_file", fragment="first line")
    (tmp_path / "bad.txt").write_text("caf\u00e9\n")
    fails(tmp_path, "--api_key_file", "bad.txt", key="--api_key_file", fragment="printable ASCII")
    fails(tmp_path, env={"API_KEY": "a\x01b"}, key="API_KEY", fragment="printable ASCII")


# --- CORS ---------------------------------------------------------------------------------------


def test_cors_lists(tmp_path: Path) -> None:
    cors = run(
        tmp_path,
        "--allowed_origins",
        "https://a.example, https://b.example",
        "--allowed_methods",
        "GET,POST",
        "--allowed_headers",
        "Content-Type,,Authorization",
        "--allow_credentials",
    ).security.cors
    assert cors == CorsConfig(
        ("https://a.example", "https://b.example"), ("GET", "POST"), ("Content-Type", "Authorization"), True
    )
    assert run(tmp_path, "--allowed_origins", "").security.cors.allowed_origins == ()


# --- TLS ----------------------------------------------------------------------------------------


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    ca = make_ca()
    server_cert(ca).write(tmp_path, "server")
    ca.write(tmp_path, "ca")
    return tmp_path


def test_tls_paths_relative_to_cwd(pem: Path) -> None:
    tls = run(
        pem, "--tls_cert_path", "server.crt", "--tls_key_path", "server.key", "--tls_client_ca_path", "ca.crt"
    ).security.tls
    assert tls == TlsConfig(str(pem / "server.crt"), str(pem / "server.key"), str(pem / "ca.crt"))


def test_tls_flag_errors(pem: Path) -> None:
    fails(pem, "--tls_cert_path", "server.crt", key="--tls_key_path", fragment="TLS needs both")
    fails(pem, "--tls_key_path", "server.key", key="--tls_cert_path", fragment="TLS needs both")
    fails(pem, "--tls_client_ca_path", "ca.crt", key="--tls_client_ca_path", fragment="needs --tls_cert_path")
    both = ["--tls_cert_path", "server.crt", "--tls_key_path"]
    fails(pem, *both, "missing.key", key="--tls_cert_path", fragment="No such file")
    fails(pem, *both, "ca.key", key="--tls_cert_path", fragment="KEY_VALUES_MISMATCH")
    (pem / "junk.pem").write_text("not a certificate")
    fails(
        pem,
        *both,
        "server.key",
        "--tls_client_ca_path",
        "junk.pem",
        key="--tls_client_ca_path",
        fragment="cannot load",
    )
