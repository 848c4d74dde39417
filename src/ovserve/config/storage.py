"""Object-store settings: credentials, endpoints, proxy and listing timeout, from the environment.

The command line (:mod:`ovserve.cli`, the only reader of the environment) parses them once
into :attr:`ovserve.config.types.ServerConfig.storage`; :mod:`ovserve.repository.storage`
uses them to open its clients. The variables are OVMS's (and the storage clients' own).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger("ovserve.config")

#: The object stores a base path may name (OVMS's): ``s3://``, ``gs://``, ``az://`` (Azure Blob) and
#: ``azfs://`` (Azure Files). The one list: config validation and the repository sources read it.
REMOTE_SCHEMES = ("s3", "gs", "az", "azfs")
REMOTE_PREFIXES = tuple(f"{scheme}://" for scheme in REMOTE_SCHEMES)

#: How long one listing may take (an ovserve extension): a store that does not answer in time
#: counts as unreachable for that poll.
TIMEOUT_VARIABLE = "OVSERVE_STORAGE_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT = 10.0


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name)
        if value:
            return value
    return None


def _seconds(env: Mapping[str, str], name: str) -> float:
    value = env.get(name)
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 3600:
        log.warning("%s=%r is not a number of seconds in (0, 3600); using %g", name, value, DEFAULT_TIMEOUT)
        return DEFAULT_TIMEOUT
    return seconds


def s3_endpoint_url(value: str) -> str:
    """``S3_ENDPOINT`` as OVMS reads it: ``http://`` means plain HTTP, no scheme means HTTPS."""
    value = value.strip().rstrip("/")
    if value.startswith(("http://", "https://")):
        return value
    return f"https://{value}"


def emulator_url(value: str) -> str:
    """``STORAGE_EMULATOR_HOST`` as Google's libraries read it: no scheme means plain HTTP."""
    value = value.strip().rstrip("/")
    return value if value.startswith(("http://", "https://")) else f"http://{value}"


@dataclass(frozen=True)
class StorageSettings:
    """Credentials and endpoints for the object stores, from the standard variables.

    S3: ``AWS_ACCESS_KEY_ID`` + ``AWS_SECRET_ACCESS_KEY`` (+ ``AWS_SESSION_TOKEN``), else
    ``AWS_PROFILE``, else the default chain (instance roles…), falling back to anonymous;
    ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``); endpoint ``S3_ENDPOINT`` (OVMS), else
    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``; proxy ``https_proxy`` / ``HTTPS_PROXY``,
    then ``http_proxy`` / ``HTTP_PROXY``, except for hosts ``no_proxy`` / ``NO_PROXY`` names.
    GCS: ``GOOGLE_APPLICATION_CREDENTIALS`` (a key file), unset means anonymous;
    ``STORAGE_EMULATOR_HOST`` points at an emulator.
    Azure Blob: ``AZURE_STORAGE_CONNECTION_STRING``; unset means anonymous access to the
    account ``AZURE_STORAGE_ACCOUNT_NAME`` (or ``AZURE_STORAGE_ACCOUNT``).
    Listing timeout: ``OVSERVE_STORAGE_TIMEOUT_SECONDS`` (an ovserve extension).
    """

    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    aws_profile: str | None = None
    aws_region: str | None = None
    s3_endpoint: str | None = None
    proxy: str | None = None
    no_proxy: str | None = None
    google_credentials: str | None = None
    gcs_endpoint: str | None = None
    azure_connection_string: str | None = None
    azure_account: str | None = None
    list_timeout: float = DEFAULT_TIMEOUT  # seconds for one listing, the client's retries included

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StorageSettings:
        s3_endpoint = _first(env, "S3_ENDPOINT")
        endpoint = (
            s3_endpoint_url(s3_endpoint)
            if s3_endpoint
            else _first(env, "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        )
        emulator = _first(env, "STORAGE_EMULATOR_HOST")
        return cls(
            aws_access_key_id=_first(env, "AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=_first(env, "AWS_SECRET_ACCESS_KEY"),
            aws_session_token=_first(env, "AWS_SESSION_TOKEN"),
            aws_profile=_first(env, "AWS_PROFILE"),
            aws_region=_first(env, "AWS_REGION", "AWS_DEFAULT_REGION"),
            s3_endpoint=endpoint,
            proxy=_first(env, "https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"),
            no_proxy=_first(env, "no_proxy", "NO_PROXY"),
            google_credentials=_first(env, "GOOGLE_APPLICATION_CREDENTIALS"),
            gcs_endpoint=emulator_url(emulator) if emulator else None,
            azure_connection_string=_first(env, "AZURE_STORAGE_CONNECTION_STRING"),
            azure_account=_first(env, "AZURE_STORAGE_ACCOUNT_NAME", "AZURE_STORAGE_ACCOUNT"),
            list_timeout=_seconds(env, TIMEOUT_VARIABLE),
        )

    def credentials_hint(self, scheme: str) -> str:
        """The variables that decide access to ``scheme``, for error messages."""
        return {
            "s3": "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN or AWS_PROFILE",
            "gs": "GOOGLE_APPLICATION_CREDENTIALS",
            "az": "AZURE_STORAGE_CONNECTION_STRING",
        }.get(scheme, "")
