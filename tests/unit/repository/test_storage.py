from __future__ import annotations

import logging

import pytest

from ovserve.repository.storage import (
    DEFAULT_TIMEOUT,
    Failure,
    StorageError,
    StorageSettings,
    StoreURL,
    azure_options,
    classify,
    describe,
    emulator_url,
    gcs_options,
    is_remote,
    parse_url,
    s3_endpoint_url,
    s3_options,
    s3_uses_default_chain,
)


# -- URLs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("s3://bucket/models/resnet", StoreURL("s3", "bucket", "models/resnet")),
        ("s3://bucket", StoreURL("s3", "bucket", "")),
        ("s3://bucket/a/", StoreURL("s3", "bucket", "a")),
        ("s3://minio.local:9000/bucket/a", StoreURL("s3", "bucket", "a", "http://minio.local:9000")),
        ("s3://127.0.0.1:9000/bucket", StoreURL("s3", "bucket", "", "http://127.0.0.1:9000")),
        ("gs://bucket/path/to/m", StoreURL("gs", "bucket", "path/to/m")),
        ("gs://host:80/b", StoreURL("gs", "host:80", "b")),  # host:port is an S3 form only
        ("az://container/m", StoreURL("az", "container", "m")),
        ("azfs://share/dir/m", StoreURL("azfs", "share", "dir/m")),
        ("s3://bucket//double//slash", StoreURL("s3", "bucket", "double/slash")),
    ],
)
def test_parse_url(url: str, expected: StoreURL) -> None:
    assert parse_url(url) == expected


def test_store_url_paths_and_text() -> None:
    url = parse_url("s3://127.0.0.1:9000/bucket/models/m")
    assert url.root == "bucket/models/m"
    assert url.child("3") == "bucket/models/m/3"
    assert str(url) == "s3://127.0.0.1:9000/bucket/models/m"
    assert str(parse_url("gs://b")) == "gs://b" and parse_url("gs://b").root == "b"


@pytest.mark.parametrize(
    "url", ["s3://", "s3:///", "s3://host:9000", "s3://host:9000/", "gs://b/../x", "ftp://b/x", "/local/path"]
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(StorageError) as err:
        parse_url(url)
    assert err.value.failure == Failure.UNSUPPORTED
    assert url in err.value.message


def test_is_remote_matches_ovms_prefixes() -> None:
    assert all(is_remote(u) for u in ("s3://b/m", "gs://b/m", "az://c/m", "azfs://s/m"))
    # OVMS reads azure:// as a local relative path, and so does ovserve
    assert not any(is_remote(u) for u in ("/models/m", "models/m", "azure://c/m", "S3://b/m", "s3:/b"))


# -- settings ----------------------------------------------------------------------------------
def test_settings_from_an_empty_environment() -> None:
    settings = StorageSettings.from_env({})
    assert settings == StorageSettings()
    assert settings.list_timeout == DEFAULT_TIMEOUT


def test_settings_read_the_standard_variables() -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIA",
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "AWS_PROFILE": "prof",
        "AWS_REGION": "eu-west-1",
        "S3_ENDPOINT": "http://minio:9000",
        "AWS_ENDPOINT_URL": "https://ignored.example",
        "https_proxy": "http://proxy:3128",
        "GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json",
        "STORAGE_EMULATOR_HOST": "localhost:4443",
        "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k",
        "AZURE_STORAGE_ACCOUNT_NAME": "acct",
        "OVSERVE_STORAGE_TIMEOUT_SECONDS": "2.5",
        "UNRELATED": "x",
    }
    assert StorageSettings.from_env(env) == StorageSettings(
        aws_access_key_id="AKIA",
        aws_secret_access_key="secret",
        aws_session_token="token",
        aws_profile="prof",
        aws_region="eu-west-1",
        s3_endpoint="http://minio:9000",
        proxy="http://proxy:3128",
        google_credentials="/keys/sa.json",
        gcs_endpoint="http://localhost:4443",
        azure_connection_string="DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k",
        azure_account="acct",
        list_timeout=2.5,
    )


@pytest.mark.parametrize(
    ("env", "endpoint"),
    [
        ({"S3_ENDPOINT": "http://minio:9000"}, "http://minio:9000"),
        ({"S3_ENDPOINT": "minio:9000"}, "https://minio:9000"),  # OVMS: no scheme means HTTPS
        ({"S3_ENDPOINT": "https://s3.example/"}, "https://s3.example"),
        ({"AWS_ENDPOINT_URL": "http://a:1"}, "http://a:1"),
        ({"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://s3:2"}, "http://s3:2"),
        ({"S3_ENDPOINT": "", "AWS_ENDPOINT_URL": "http://a:1"}, "http://a:1"),
        ({}, None),
    ],
)
def test_s3_endpoint_variables(env: dict[str, str], endpoint: str | None) -> None:
    assert StorageSettings.from_env(env).s3_endpoint == endpoint


def test_region_and_proxy_fallbacks() -> None:
    settings = StorageSettings.from_env({"AWS_DEFAULT_REGION": "us-west-2", "HTTP_PROXY": "http://p:8080"})
    assert settings.aws_region == "us-west-2"
    assert settings.proxy == "http://p:8080"
    both = StorageSettings.from_env({"HTTPS_PROXY": "http://secure:1", "http_proxy": "http://plain:2"})
    assert both.proxy == "http://secure:1"  # OVMS: https_proxy first


@pytest.mark.parametrize("value", ["abc", "0", "-1", "100000"])
def test_a_bad_timeout_falls_back_to_the_default(value: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert (
            StorageSettings.from_env({"OVSERVE_STORAGE_TIMEOUT_SECONDS": value}).list_timeout
            == DEFAULT_TIMEOUT
        )
    assert "OVSERVE_STORAGE_TIMEOUT_SECONDS" in caplog.text


def test_endpoint_normalisation() -> None:
    assert s3_endpoint_url(" http://h:1/ ") == "http://h:1"
    assert emulator_url("127.0.0.1:4443") == "http://127.0.0.1:4443"
    assert emulator_url("https://gcs.local") == "https://gcs.local"


# -- client options ------------------------------------------------------------------------------
def test_s3_options_with_keys_region_and_endpoint() -> None:
    settings = StorageSettings(
        aws_access_key_id="AKIA",
        aws_secret_access_key="secret",
        aws_session_token="token",
        aws_profile="ignored-when-keys-are-set",
        aws_region="eu-west-1",
        s3_endpoint="http://minio:9000",
        proxy="http://proxy:3128",
    )
    options = s3_options(settings)
    assert options["key"] == "AKIA" and options["secret"] == "secret" and options["token"] == "token"
    assert "profile" not in options and "anon" not in options
    assert options["endpoint_url"] == "http://minio:9000"
    assert options["client_kwargs"] == {"region_name": "eu-west-1"}
    assert options["config_kwargs"]["s3"] == {"addressing_style": "path"}
    assert options["config_kwargs"]["proxies"] == {"http": "http://proxy:3128", "https": "http://proxy:3128"}
    assert options["skip_instance_cache"] and options["use_listings_cache"] is False
    assert not s3_uses_default_chain(settings)


def test_s3_proxy_honours_no_proxy() -> None:
    settings = StorageSettings(proxy="http://proxy:3128", no_proxy="localhost,.internal")
    assert "proxies" not in s3_options(settings, "http://minio.internal:9000")["config_kwargs"]
    assert "proxies" in s3_options(settings, "http://minio.example:9000")["config_kwargs"]
    assert "proxies" in s3_options(settings)["config_kwargs"]  # AWS itself
    assert StorageSettings.from_env({"NO_PROXY": "a,b"}).no_proxy == "a,b"

    def proxied(no_proxy: str) -> bool:
        options = s3_options(
            StorageSettings(proxy="http://p:1", no_proxy=no_proxy), "http://minio.example:9000"
        )
        return "proxies" in options["config_kwargs"]

    assert not any(
        proxied(n) for n in ("*", "minio.example", ".example", "example", "other, minio.example:9000")
    )
    assert proxied("ample") and proxied("")


def test_s3_options_endpoint_from_the_url_wins() -> None:
    settings = StorageSettings(s3_endpoint="https://from-env")
    assert s3_options(settings, "http://from-url:9000")["endpoint_url"] == "http://from-url:9000"


def test_s3_options_profile_default_chain_and_anonymous() -> None:
    profile = StorageSettings(aws_profile="dev")
    assert s3_options(profile)["profile"] == "dev" and not s3_uses_default_chain(profile)
    bare = StorageSettings()
    options = s3_options(bare)
    assert not {"key", "secret", "profile", "anon", "endpoint_url"} & options.keys()
    assert "s3" not in options["config_kwargs"]  # AWS itself: virtual-hosted buckets
    assert s3_uses_default_chain(bare)
    assert s3_options(bare, anonymous=True)["anon"] is True
    only_key = StorageSettings(aws_access_key_id="AKIA")  # a key without a secret is no credential
    assert "key" not in s3_options(only_key) and s3_uses_default_chain(only_key)


def test_gcs_options() -> None:
    assert gcs_options(StorageSettings())["token"] == "anon"
    options = gcs_options(StorageSettings(google_credentials="/k.json", gcs_endpoint="http://e:1"))
    assert options["token"] == "/k.json" and options["endpoint_url"] == "http://e:1"
    assert "endpoint_url" not in gcs_options(StorageSettings())


def test_azure_options() -> None:
    options = azure_options(StorageSettings(azure_connection_string="cs", azure_account="ignored"))
    assert options["connection_string"] == "cs" and options["anon"] is False
    anonymous = azure_options(StorageSettings(azure_account="acct"))
    assert anonymous["account_name"] == "acct" and anonymous["anon"] is True
    with pytest.raises(StorageError, match="AZURE_STORAGE_CONNECTION_STRING is not set") as err:
        azure_options(StorageSettings())
    assert err.value.failure == Failure.DENIED


# -- errors --------------------------------------------------------------------------------------
class _Status(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class _BotoLike(Exception):
    def __init__(self, status: int) -> None:
        super().__init__("boto")
        self.response = {"Error": {"Code": "X"}, "ResponseMetadata": {"HTTPStatusCode": status}}


def test_classify() -> None:
    import botocore.exceptions
    import google.auth.exceptions

    assert classify(FileNotFoundError("b/x")) == Failure.NOT_FOUND
    assert classify(PermissionError("denied")) == Failure.DENIED
    assert classify(_Status(403)) == Failure.DENIED
    assert classify(_Status(401)) == Failure.DENIED
    assert classify(_Status(404)) == Failure.NOT_FOUND
    assert classify(_Status(503)) == Failure.UNREACHABLE
    assert classify(_BotoLike(403)) == Failure.DENIED
    assert classify(botocore.exceptions.NoCredentialsError()) == Failure.DENIED
    assert (
        classify(botocore.exceptions.EndpointConnectionError(endpoint_url="http://x")) == Failure.UNREACHABLE
    )
    assert classify(google.auth.exceptions.DefaultCredentialsError("no")) == Failure.DENIED
    assert classify(google.auth.exceptions.TransportError("dns")) == Failure.UNREACHABLE
    assert classify(TimeoutError()) == Failure.UNREACHABLE
    assert classify(ConnectionRefusedError()) == Failure.UNREACHABLE
    assert classify(RuntimeError("anything else")) == Failure.UNREACHABLE
    assert classify(StorageError(Failure.UNSUPPORTED, "x")) == Failure.UNSUPPORTED


def test_classify_azure_errors() -> None:
    from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError

    assert classify(ClientAuthenticationError(message="bad key")) == Failure.DENIED
    assert classify(ResourceNotFoundError(message="no container")) == Failure.NOT_FOUND


def test_describe_keeps_one_line() -> None:
    assert describe(ValueError("first line\n<xml>body</xml>")) == "ValueError: first line"
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(StorageError(Failure.DENIED, "as is")) == "as is"
    assert len(describe(ValueError("x" * 1000))) < 320
