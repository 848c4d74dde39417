"""CertificateReloader: new files are adopted on the next poll; broken ones are not."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from certs import make_ca, server_cert

from ovserve.api.tls import CertificateReloader, grpc_credentials, rest_context
from ovserve.config.types import TlsConfig


@pytest.fixture
def files(tmp_path: Path) -> TlsConfig:
    ca = make_ca()
    server_cert(ca).write(tmp_path, "server")
    ca.write(tmp_path, "ca")
    return TlsConfig(str(tmp_path / "server.crt"), str(tmp_path / "server.key"), str(tmp_path / "ca.crt"))


def test_unchanged_files_are_not_read_again(files: TlsConfig) -> None:
    reloader = CertificateReloader(files)
    first = reloader.current()
    assert reloader.poll() is first
    assert reloader.mutual
    assert first.context.verify_mode == ssl.CERT_REQUIRED


def test_new_files_are_adopted_on_the_next_poll(files: TlsConfig) -> None:
    reloader = CertificateReloader(files)
    fresh = server_cert(make_ca())
    fresh.write(Path(files.cert_path).parent, "server")
    material = reloader.poll()
    assert material.generation == 1
    assert material.cert == fresh.cert and material.key == fresh.key
    assert reloader.poll() is material


def test_a_key_that_does_not_match_is_not_adopted(files: TlsConfig, caplog: pytest.LogCaptureFixture) -> None:
    reloader = CertificateReloader(files)
    before = reloader.current()
    Path(files.key_path).write_bytes(make_ca().key)
    assert reloader.poll() is before
    assert "cannot be loaded" in caplog.text
    assert reloader.poll() is before  # the same broken files are not tried again
    good = server_cert(make_ca())
    good.write(Path(files.cert_path).parent, "server")
    assert reloader.poll().cert == good.cert


def test_a_missing_file_keeps_the_last_good_material(files: TlsConfig) -> None:
    reloader = CertificateReloader(files)
    before = reloader.current()
    Path(files.cert_path).unlink()
    assert reloader.poll() is before


def test_contexts_and_credentials_build(files: TlsConfig) -> None:
    reloader = CertificateReloader(files)
    context = rest_context(reloader)
    assert context.sni_callback is not None
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert grpc_credentials(reloader) is not None
