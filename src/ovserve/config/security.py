"""The security flags → :class:`SecurityConfig`: TLS files, the API key, the CORS lists.

OVMS's rules for the API key (``src/cli_parser.cpp``): ``--api_key_file`` wins; its first
line is the key, trailing whitespace trimmed; a file that cannot be read stops start-up.
Without the flag the ``API_KEY`` environment variable is the key. Neither: no key is asked
for. ovserve departs in two places, both documented in docs/security.md: a key file whose
first line is empty is refused (OVMS silently turns authentication off), and the environment
value is trimmed like the file's (a trailing newline from a secret could never match a header).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

from ovserve.config.types import CorsConfig, SecurityConfig, TlsConfig
from ovserve.errors import ConfigError

API_KEY_ENV = "API_KEY"
#: the string flags :func:`parse_security` reads
SECURITY_TEXT_FLAGS = (
    "api_key_file",
    "allowed_origins",
    "allowed_methods",
    "allowed_headers",
    "tls_cert_path",
    "tls_key_path",
    "tls_client_ca_path",
)
_CORS_LISTS = ("allowed_origins", "allowed_methods", "allowed_headers")
_TRIMMED = " \n\r\t"


def parse_security(
    text: Mapping[str, str], allow_credentials: bool, env: Mapping[str, str], cwd: str
) -> SecurityConfig:
    """``text``: the string flags by name (absent or "" when not given); ``env``: the environment."""
    return SecurityConfig(
        tls=_tls(text, cwd),
        api_key=_api_key(text.get("api_key_file", ""), env, cwd),
        cors=CorsConfig(  # a list not given keeps CorsConfig's default
            **{name: split_list(text[name]) for name in _CORS_LISTS if name in text},
            allow_credentials=allow_credentials,
        ),
    )


def split_list(value: str) -> tuple[str, ...]:
    """A comma-separated flag value as its items, blanks dropped ("" → no item)."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _api_key(key_file: str, env: Mapping[str, str], cwd: str) -> str | None:
    if key_file:
        path = os.path.join(cwd, key_file)
        try:
            with open(path, encoding="utf-8") as handle:
                first = handle.readline()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                "--api_key_file", f"Error reading API key file: Unable to open file {key_file}: {exc}"
            ) from exc
        key = first.rstrip(_TRIMMED)
        if not key:
            raise ConfigError("--api_key_file", f"The first line of the API key file {key_file} is empty")
        return _checked(key, "--api_key_file")
    key = env.get(API_KEY_ENV, "").rstrip(_TRIMMED)
    return _checked(key, API_KEY_ENV) if key else None


def _checked(key: str, where: str) -> str:
    """Clients send the key in an HTTP header and gRPC metadata: printable ASCII only."""
    if not key.isascii() or not key.isprintable():
        raise ConfigError(where, "The API key must be printable ASCII (it travels in an HTTP header)")
    return key


def _tls(text: Mapping[str, str], cwd: str) -> TlsConfig | None:
    cert, key, client_ca = (
        text.get(name, "") for name in ("tls_cert_path", "tls_key_path", "tls_client_ca_path")
    )
    if not cert and not key:
        if client_ca:
            raise ConfigError(
                "--tls_client_ca_path", "needs --tls_cert_path and --tls_key_path (mTLS is TLS)"
            )
        return None
    if not cert or not key:
        given, missing = (
            ("--tls_cert_path", "--tls_key_path") if cert else ("--tls_key_path", "--tls_cert_path")
        )
        raise ConfigError(missing, f"{given} is given without {missing}; TLS needs both")
    config = TlsConfig(
        cert_path=os.path.join(cwd, cert),
        key_path=os.path.join(cwd, key),
        client_ca_path=os.path.join(cwd, client_ca) if client_ca else None,
    )
    check_tls_files(config)
    return config


def check_tls_files(config: TlsConfig) -> None:
    """Raise :class:`ConfigError` unless the certificate, key and client CAs load together."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(config.cert_path, config.key_path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            "--tls_cert_path",
            f"cannot load the certificate {config.cert_path} with the key {config.key_path}: {_reason(exc)}",
        ) from exc
    if config.client_ca_path is not None:
        try:
            context.load_verify_locations(cafile=config.client_ca_path)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                "--tls_client_ca_path",
                f"cannot load the CA certificates {config.client_ca_path}: {_reason(exc)}",
            ) from exc


def _reason(exc: OSError) -> str:
    return str(exc) if isinstance(exc, ssl.SSLError) else (exc.strerror or str(exc))
