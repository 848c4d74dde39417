"""Object stores as read-only trees: URL forms, settings from the environment, fsspec clients.

OVMS's cloud paths: ``s3://bucket/path`` (or ``s3://host:port/bucket/path``, a plain-HTTP
endpoint), ``gs://bucket/path``, ``az://container/path`` (Azure Blob) and ``azfs://share/path``
(Azure Files, which no fsspec client reads: such a model gets a clear error). The clients
are s3fs, gcsfs and adlfs; they are imported only when a remote model is configured.

:class:`StorageSettings` (in :mod:`ovserve.config.storage`) is parsed once, by the command
line, into the server config; nothing here reads the environment.
:class:`Store` wraps one client and is safe to share between threads: every call runs on
fsspec's own event loop thread and is bounded by a timeout, so a store that hangs costs a
poll at most ``list_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ovserve.config.storage import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ovserve.config.storage import REMOTE_PREFIXES, REMOTE_SCHEMES
from ovserve.config.storage import TIMEOUT_VARIABLE as TIMEOUT_VARIABLE
from ovserve.config.storage import StorageSettings as StorageSettings
from ovserve.config.storage import emulator_url as emulator_url
from ovserve.config.storage import s3_endpoint_url as s3_endpoint_url

log = logging.getLogger(__name__)

_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+:\d+$")
#: Loggers of the storage clients: they log every request or retry; failures reach our own log.
_CLIENT_LOGGERS = (
    "azure",
    "gcsfs",
    "s3fs",
    "aiobotocore",
    "botocore",
    "google",
    "urllib3",
    "adlfs",
    "fsspec",
)


class Failure(enum.Enum):
    """Why a store could not be read, as it matters to serving."""

    UNREACHABLE = "unreachable"  # network, timeout, server error: the loaded versions keep serving
    DENIED = "denied"  # bad or missing credentials: keep serving, show the error
    NOT_FOUND = "not found"  # the store answered that the bucket or path does not exist
    UNSUPPORTED = "unsupported"  # a URL form ovserve cannot read


class StorageError(Exception):
    """A store could not be read; ``failure`` says how it matters."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


# -- URLs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreURL:
    """A parsed cloud base path: ``scheme://[host:port/]bucket[/path]``."""

    scheme: str
    bucket: str
    path: str = ""
    endpoint: str | None = None  # s3://host:port/...: http://host:port

    @property
    def root(self) -> str:
        """The client's path of the base directory: ``bucket/path``."""
        return f"{self.bucket}/{self.path}" if self.path else self.bucket

    def child(self, name: str) -> str:
        return f"{self.root}/{name}"

    def __str__(self) -> str:
        host = self.endpoint.split("://", 1)[1] + "/" if self.endpoint else ""
        return f"{self.scheme}://{host}{self.root}"


def is_remote(base_path: str) -> bool:
    """Whether a base path names an object store (OVMS's prefixes) rather than a local path."""
    return base_path.startswith(REMOTE_PREFIXES)


def parse_url(url: str) -> StoreURL:
    """Split a cloud base path; raises :class:`StorageError` (UNSUPPORTED) for a malformed one."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in REMOTE_SCHEMES:
        raise StorageError(Failure.UNSUPPORTED, f"not a storage URL ({', '.join(REMOTE_SCHEMES)}): {url}")
    parts = [p for p in rest.split("/") if p]
    endpoint = None
    if scheme == "s3" and parts and _HOST_PORT.match(parts[0]):
        endpoint = f"http://{parts.pop(0)}"
    if not parts:
        raise StorageError(Failure.UNSUPPORTED, f"no bucket in storage URL: {url}")
    if any(p in (".", "..") for p in parts):
        raise StorageError(Failure.UNSUPPORTED, f"'.' and '..' are not allowed in storage URL: {url}")
    return StoreURL(scheme, parts[0], "/".join(parts[1:]), endpoint)


# -- settings: parsed by the command line (ovserve.config.storage), re-exported here --------


# -- client options (pure, so they can be tested without a store) -----------------------
_COMMON: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}


def s3_options(
    settings: StorageSettings, endpoint: str | None = None, *, anonymous: bool = False
) -> dict[str, Any]:
    """Keyword arguments of ``s3fs.S3FileSystem``; ``endpoint`` from the URL wins over the settings."""
    config: dict[str, Any] = {
        "connect_timeout": 5,
        "read_timeout": 60,
        "retries": {"max_attempts": 3, "mode": "standard"},
    }
    endpoint = endpoint or settings.s3_endpoint
    if endpoint:
        config["s3"] = {"addressing_style": "path"}  # MinIO & co. serve buckets as paths
    if settings.proxy and not _bypass_proxy(endpoint or "https://s3.amazonaws.com", settings.no_proxy):
        config["proxies"] = {"http": settings.proxy, "https": settings.proxy}
    options: dict[str, Any] = {**_COMMON, "config_kwargs": config}
    if endpoint:
        options["endpoint_url"] = endpoint
    if settings.aws_region:
        options["client_kwargs"] = {"region_name": settings.aws_region}
    if anonymous:
        options["anon"] = True
    elif settings.aws_access_key_id and settings.aws_secret_access_key:
        options["key"] = settings.aws_access_key_id
        options["secret"] = settings.aws_secret_access_key
        if settings.aws_session_token:
            options["token"] = settings.aws_session_token
    elif settings.aws_profile:
        options["profile"] = settings.aws_profile
    return options


def _bypass_proxy(url: str, no_proxy: str | None) -> bool:
    """Whether ``no_proxy`` (``*``, or hosts and ``.domain`` suffixes, comma-separated) names url's host."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    for entry in (no_proxy or "").lower().split(","):
        name = entry.strip()
        if name == "*":
            return True
        name = name.split(":", 1)[0].lstrip(".")  # without a port
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def s3_uses_default_chain(settings: StorageSettings) -> bool:
    """No key and no profile: botocore's default chain, with anonymous as the fallback."""
    return not (settings.aws_access_key_id and settings.aws_secret_access_key) and not settings.aws_profile


def gcs_options(settings: StorageSettings) -> dict[str, Any]:
    """Keyword arguments of ``gcsfs.GCSFileSystem``."""
    options: dict[str, Any] = {**_COMMON, "token": settings.google_credentials or "anon"}
    if settings.gcs_endpoint:
        options["endpoint_url"] = settings.gcs_endpoint
    return options


def azure_options(settings: StorageSettings) -> dict[str, Any]:
    """Keyword arguments of ``adlfs.AzureBlobFileSystem``."""
    if settings.azure_connection_string:
        return {**_COMMON, "connection_string": settings.azure_connection_string, "anon": False}
    if settings.azure_account:
        return {**_COMMON, "account_name": settings.azure_account, "anon": True}
    raise StorageError(
        Failure.DENIED,
        "AZURE_STORAGE_CONNECTION_STRING is not set (for anonymous access to public containers, "
        "set AZURE_STORAGE_ACCOUNT_NAME)",
    )


# -- errors ------------------------------------------------------------------------------
def describe(exc: BaseException) -> str:
    """A one-line account of a client error (Azure's carry XML bodies after the first line)."""
    if isinstance(exc, StorageError):
        return exc.message
    text = str(exc).strip().splitlines()
    first = text[0].strip() if text else ""
    name = type(exc).__name__
    if not first or first == name:
        return name
    return f"{name}: {first[:300]}"


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "status", "code"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and 100 <= value < 600:
            return value
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        meta = response.get("ResponseMetadata", {})
        if isinstance(meta, Mapping) and isinstance(meta.get("HTTPStatusCode"), int):
            return int(meta["HTTPStatusCode"])
    return None


_DENIED_NAMES = {
    "NoCredentialsError",
    "PartialCredentialsError",
    "ProfileNotFound",
    "ClientAuthenticationError",
}

_NOT_FOUND_NAMES = {"ResourceNotFoundError", "NoSuchBucket", "NoSuchKey"}


def classify(exc: BaseException) -> Failure:
    """How a client error matters: see :class:`Failure`. Unknown errors count as an outage."""
    if isinstance(exc, StorageError):
        return exc.failure
    if isinstance(exc, FileNotFoundError):
        return Failure.NOT_FOUND
    if isinstance(exc, PermissionError):
        return Failure.DENIED
    status = _status(exc)
    if status in (401, 403):
        return Failure.DENIED
    if status == 404:
        return Failure.NOT_FOUND
    name, module = type(exc).__name__, type(exc).__module__
    if name in _DENIED_NAMES:
        return Failure.DENIED
    if name in _NOT_FOUND_NAMES:
        return Failure.NOT_FOUND
    if module.startswith("google.auth") and name != "TransportError":  # bad key file, refused token
        return Failure.DENIED
    return Failure.UNREACHABLE


def quiet_client_logs() -> None:
    """Keep the storage clients' per-request and per-retry logging out of the server log."""
    for name in _CLIENT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    logging.getLogger("gcsfs").setLevel(logging.CRITICAL)  # logs every exhausted retry as ERROR


# -- the store ---------------------------------------------------------------------------
def open_filesystem(url: StoreURL, settings: StorageSettings, *, anonymous: bool = False) -> Any:
    """A new fsspec filesystem for ``url``'s store (imports the client on first use)."""
    quiet_client_logs()
    if url.scheme == "s3":
        import s3fs

        return s3fs.S3FileSystem(**s3_options(settings, url.endpoint, anonymous=anonymous))
    if url.scheme == "gs":
        # the core class: gcsfs's default export also probes each bucket's layout over gRPC
        from gcsfs.core import GCSFileSystem

        return GCSFileSystem(**gcs_options(settings))
    if url.scheme == "az":
        from adlfs import AzureBlobFileSystem

        return AzureBlobFileSystem(**azure_options(settings))
    if url.scheme == "azfs":
        raise StorageError(
            Failure.UNSUPPORTED,
            f"Azure file shares (azfs://) are not supported: {url}; "
            "copy the repository to a blob container and use az://container/path",
        )
    raise StorageError(Failure.UNSUPPORTED, f"unsupported storage URL: {url}")


def _safe_parts(relative: str) -> list[str] | None:
    parts = relative.split("/")
    if not relative or any(p in ("", ".", "..") for p in parts):
        return None
    return parts


def store_key(url: StoreURL) -> tuple[str, str | None]:
    """What tells stores apart: the scheme and, for ``s3://host:port/``, the endpoint."""
    return url.scheme, url.endpoint


class Store:
    """One object store (``url``'s scheme and endpoint) read through one fsspec client; thread-safe.

    The client is opened on first use. S3 without explicit credentials uses botocore's
    default chain and, when that finds none, continues anonymously (as OVMS does).
    """

    def __init__(self, url: StoreURL, settings: StorageSettings) -> None:
        self.url = url  # the first URL seen on this store: its scheme and endpoint matter
        self.settings = settings
        self._lock = threading.Lock()
        self._fs: Any = None
        self._anonymous = False

    def filesystem(self) -> Any:
        with self._lock:
            if self._fs is None:
                try:
                    self._fs = open_filesystem(self.url, self.settings, anonymous=self._anonymous)
                except StorageError:
                    raise
                except Exception as exc:  # a bad key file or connection string: fix the settings
                    raise StorageError(
                        Failure.DENIED,
                        f"cannot set up the {self.url.scheme}:// client from "
                        f"{self.settings.credentials_hint(self.url.scheme)}: {describe(exc)}",
                    ) from exc
            return self._fs

    def _call(self, method: str, *args: Any, timeout: float, **kwargs: Any) -> Any:
        """``fs.<method>(*args, **kwargs)`` on fsspec's loop, bounded by ``timeout`` seconds."""
        try:
            try:
                return getattr(self.filesystem(), method)(*args, timeout=timeout, **kwargs)
            except Exception as exc:
                if not self._may_go_anonymous(exc):
                    raise
            log.info("no AWS credentials found, reading S3 anonymously")
            with self._lock:
                self._anonymous, self._fs = True, None
            return getattr(self.filesystem(), method)(*args, timeout=timeout, **kwargs)
        except (TimeoutError, asyncio.TimeoutError) as exc:  # fsspec's FSTimeoutError is one
            raise StorageError(Failure.UNREACHABLE, f"no answer within {timeout:g}s") from exc

    def _may_go_anonymous(self, exc: Exception) -> bool:
        return (
            type(exc).__name__ == "NoCredentialsError"
            and self.url.scheme == "s3"
            and not self._anonymous
            and s3_uses_default_chain(self.settings)
        )

    def list_versions(self, url: StoreURL) -> dict[int, str]:
        """Positive integer "directories" under ``url`` -> their client paths."""
        timeout = self.settings.list_timeout
        try:
            entries = self._call("ls", url.root, detail=True, timeout=timeout)
        except FileNotFoundError as exc:
            raise StorageError(Failure.NOT_FOUND, self._not_found(url, exc)) from exc
        found: dict[int, str] = {}
        for entry in entries:
            if entry.get("type") != "directory":
                continue
            name = str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]
            if name.isdigit() and int(name) > 0:
                found[int(name)] = str(entry["name"]).rstrip("/")
            else:
                log.debug("%s: skipping %r, version directories have positive integer names", url, name)
        return found

    def _not_found(self, url: StoreURL, exc: FileNotFoundError) -> str:
        kind = {"s3": "bucket", "gs": "bucket", "az": "container"}.get(url.scheme, "bucket")
        try:
            exists = self._call("exists", url.bucket, timeout=self.settings.list_timeout)
        except Exception:
            exists = None
        if exists is False:
            return f"{kind} {url.bucket!r} does not exist"
        if exists and url.path:
            return f"no such path {url.path!r} in {kind} {url.bucket!r}"
        return describe(exc)

    def download(self, remote_dir: str, target: Path) -> int:
        """Copy every file under ``remote_dir`` into the (existing) directory ``target``; returns bytes."""
        infos = self._call("find", remote_dir, detail=True, timeout=self.settings.list_timeout)
        prefix = remote_dir.rstrip("/") + "/"
        rpaths: list[str] = []
        lpaths: list[str] = []
        total = 0
        for name, info in sorted(infos.items()):
            if info.get("type") == "directory" or name.endswith("/") or not name.startswith(prefix):
                continue
            parts = _safe_parts(name[len(prefix) :])
            if parts is None:
                log.warning("%s: skipping object %r, its name is not a safe relative path", remote_dir, name)
                continue
            local = target.joinpath(*parts)
            local.parent.mkdir(parents=True, exist_ok=True)
            rpaths.append(name)
            lpaths.append(str(local))
            total += int(info.get("size") or 0)
        if not rpaths:
            raise StorageError(Failure.NOT_FOUND, f"no files under {self.url.scheme}://{remote_dir}")
        # a stall guard, not a speed limit: a minute plus a second per MiB
        self._call("get", rpaths, lpaths, timeout=60.0 + total / 2**20)
        return total
