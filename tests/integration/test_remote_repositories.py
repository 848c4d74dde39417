"""Model repositories in S3, GCS and Azure Blob, served from emulators on 127.0.0.1.

One ovserve serves the same models from local disk and from each store (answers must agree
with in-process OpenVINO and with each other), picks up versions uploaded while it runs,
and keeps serving through an outage of every store. A second ovserve, with bad credentials
and missing buckets, must show one clear error per model and serve the rest.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from unittest import mock

import numpy as np
import openvino as ov
import pytest
import tritonclient.http as httpclient
from models import F32, add_scaled, build_repository, model_file, reference
from serverproc import HOST, ServerProcess, http_json, wait_for
from storage_emulators import Azurite, Emulator, FakeGCS, MotoS3, azurite_binary, local_files

from ovserve.repository.storage import StorageSettings, Store, parse_url

STORES: dict[str, type[Emulator]] = {"s3": MotoS3, "gcs": FakeGCS, "azure": Azurite}
MODELS = ("dynamic", "multi_io", "cnn", "versions")
BUCKET = "models"
POLL = "1"
TIMEOUT = "3"  # OVSERVE_STORAGE_TIMEOUT_SECONDS: an outage costs a poll this long, not the clients' retries

RNG = np.random.default_rng(7)
INPUTS: dict[str, dict[str, np.ndarray]] = {
    "dynamic": {"x": RNG.standard_normal((3, 4)).astype(np.float32)},
    "multi_io": {
        "a": RNG.standard_normal((1, 3)).astype(np.float32),
        "b": np.array([[1, -2, 7]], dtype=np.int32),
    },
    "cnn": {"image": RNG.standard_normal((2, 3, 32, 32)).astype(np.float32)},
    "versions": {"x": RNG.standard_normal((2, 4)).astype(np.float32)},
}
DTYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int32): "INT32"}


# -- helpers -------------------------------------------------------------------------------
def infer(
    server: ServerProcess, name: str, inputs: Mapping[str, np.ndarray], version: str = ""
) -> tuple[str, dict[str, np.ndarray]]:
    client = httpclient.InferenceServerClient(f"{HOST}:{server.rest_port}")
    request = []
    for key, value in inputs.items():
        tensor = httpclient.InferInput(key, list(value.shape), DTYPES[value.dtype])
        tensor.set_data_from_numpy(value, binary_data=False)
        request.append(tensor)
    result = client.infer(name, request, model_version=version)
    outputs = {o["name"]: result.as_numpy(o["name"]) for o in result.get_response()["outputs"]}
    return result.get_response()["model_version"], outputs


def states(server: ServerProcess, name: str) -> dict[str, str]:
    _, body = http_json(f"{server.rest_url}/v1/models/{name}")
    return {s["version"]: s["state"] for s in body.get("model_version_status", [])}  # type: ignore[union-attr]


def served_version(server: ServerProcess, name: str) -> int:
    status, body = http_json(f"{server.rest_url}/v2/models/{name}")
    return max(int(v) for v in body["versions"]) if status == 200 else -1  # type: ignore[union-attr]


def write_live_version(root: Path, version: int) -> Path:
    """Version v of the "live" model computes y = v*x + 1, so an answer tells which version ran."""
    target = root / "live" / str(version)
    ov.save_model(add_scaled(scale=float(version)), str(target / "model.xml"), compress_to_fp16=False)
    return target


def upload_live(store: Emulator, root: Path, version: int) -> None:
    store.upload_tree(write_live_version(root, version), BUCKET, f"live/{version}")


def config(path: Path, models: Mapping[str, str], policies: Mapping[str, object] | None = None) -> Path:
    entries = []
    for name, base in models.items():
        cfg: dict[str, object] = {"name": name, "base_path": base, "plugin_config": dict(F32)}
        if policies and name in policies:
            cfg["model_version_policy"] = policies[name]
        entries.append({"config": cfg})
    path.write_text(json.dumps({"model_config_list": entries}, indent=2))
    return path


def start_server(args: list[str], log: Path, env: Mapping[str, str]) -> ServerProcess:
    """ovserve with exactly these storage variables (ServerProcess passes os.environ on)."""
    storage_vars = re.compile(r"^(AWS_|S3_|GOOGLE_|STORAGE_EMULATOR|AZURE_|OVSERVE_STORAGE)")
    with mock.patch.dict(os.environ):
        for name in [n for n in os.environ if storage_vars.match(n) and n != "AWS_CA_BUNDLE"]:
            del os.environ[name]
        os.environ.update(env)
        return ServerProcess([*args, "--file_system_poll_wait_seconds", POLL], log).start(timeout=90)


def log_lines(server: ServerProcess, needle: str) -> list[str]:
    return [line for line in server.log().splitlines() if needle in line]


# -- fixtures ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_repository(tmp_path_factory.mktemp("remote-models"), MODELS)


def upload_repository(store: Emulator, local_repo: Mapping[str, Path], live_root: Path) -> None:
    store.create_bucket(BUCKET)
    for name, base in local_repo.items():
        store.upload_tree(base, BUCKET, f"repo/{name}")
    for version_dir in sorted((live_root / "live").iterdir()):
        store.upload_tree(version_dir, BUCKET, f"live/{version_dir.name}")


@pytest.fixture(scope="module")
def live_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the versions of the "live" model are written before they are uploaded."""
    root = tmp_path_factory.mktemp("live")
    write_live_version(root, 1)
    return root


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, local_repo: dict[str, Path], live_root: Path
) -> Iterator[dict[str, Emulator]]:
    """moto, fake-gcs-server and azurite, each holding ``repo/<model>`` and ``live/1`` in one bucket."""
    if azurite_binary() is None:
        pytest.fail("azurite is not installed: `make tools` installs it under .tools/ (needs npm)")
    started: dict[str, Emulator] = {}
    try:
        for kind, cls in STORES.items():
            started[kind] = cls(tmp_path_factory.mktemp(kind)).start()
            upload_repository(started[kind], local_repo, live_root)
        yield started
    finally:
        for emulator in started.values():
            emulator.stop()


@pytest.fixture(scope="module")
def served(
    stores: dict[str, Emulator], local_repo: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One ovserve serving every model from local disk and from each store, plus ``live_<store>``."""
    models: dict[str, str] = {}
    policies: dict[str, object] = {}
    for name, base in local_repo.items():
        models[f"{name}_local"] = str(base)
        for kind, store in stores.items():
            models[f"{name}_{kind}"] = store.url_for(BUCKET, f"repo/{name}")
        if name == "versions":
            policies.update({m: {"all": {}} for m in models if m.startswith("versions_")})
    for kind, store in stores.items():
        models[f"live_{kind}"] = store.url_for(BUCKET, "live")
        models[f"missing_{kind}"] = store.url_for("no-such-bucket", "repo/dynamic")
    # OVMS's other S3 form: the endpoint in the URL (plain HTTP), overriding S3_ENDPOINT
    models["dynamic_s3_endpoint_url"] = f"s3://{HOST}:{stores['s3'].port}/{BUCKET}/repo/dynamic"
    env = {"OVSERVE_STORAGE_TIMEOUT_SECONDS": TIMEOUT}
    for store in stores.values():
        env.update(store.env())
    tmp = tmp_path_factory.mktemp("served")
    server = start_server(
        ["--config_path", str(config(tmp / "config.json", models, policies))], tmp / "log", env
    )
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log()


# -- tests ---------------------------------------------------------------------------------
def test_same_results_from_local_disk_s3_gcs_and_azure(
    served: ServerProcess, local_repo: dict[str, Path]
) -> None:
    for name in MODELS:
        versions = ("1", "2") if name == "versions" else ("1",)
        for version in versions:
            expected = reference(model_file(local_repo[name], int(version)), INPUTS[name])
            for where in ("local", *STORES, *(["s3_endpoint_url"] if name == "dynamic" else [])):
                model = f"{name}_{where}"
                assert states(served, model) == {v: "AVAILABLE" for v in versions}, served.log()
                answered, outputs = infer(served, model, INPUTS[name], version)
                assert answered == version
                assert outputs.keys() == expected.keys()
                for key, value in expected.items():
                    np.testing.assert_allclose(outputs[key], value, rtol=1e-5, atol=1e-6, err_msg=model)


def test_a_version_uploaded_to_each_store_is_picked_up(
    served: ServerProcess, stores: dict[str, Emulator], live_root: Path
) -> None:
    for store in stores.values():
        upload_live(store, live_root, 2)
    x = INPUTS["versions"]
    for kind in stores:
        wait_for(lambda k=kind: served_version(served, f"live_{k}") == 2, what=f"live_{kind} version 2")
        version, outputs = infer(served, f"live_{kind}", x)
        assert version == "2"
        np.testing.assert_allclose(outputs["y"], x["x"] * 2 + 1, rtol=1e-6)
        wait_for(lambda k=kind: states(served, f"live_{k}") == {"2": "AVAILABLE", "1": "END"}, what="retired")


def test_an_outage_keeps_serving_is_logged_once_and_polling_resumes(
    served: ServerProcess, stores: dict[str, Emulator], local_repo: dict[str, Path], live_root: Path
) -> None:
    x = INPUTS["versions"]
    before = {kind: served_version(served, f"live_{kind}") for kind in stores}
    assert min(before.values()) > 0
    for store in stores.values():
        store.stop()

    def unreachable(kind: str) -> list[str]:
        return log_lines(served, f"storage for model live_{kind} unreachable")

    failures = 0
    outage_seen: float | None = None
    while outage_seen is None or time.monotonic() - outage_seen < 2.5 * (float(TIMEOUT) + float(POLL)):
        for kind in stores:  # every request is still answered, by the version loaded before
            try:
                version, outputs = infer(served, f"live_{kind}", x)
                assert int(version) == before[kind]
                np.testing.assert_allclose(outputs["y"], x["x"] * before[kind] + 1, rtol=1e-6)
            except Exception:
                failures += 1
        if outage_seen is None and all(unreachable(kind) for kind in stores):
            outage_seen = time.monotonic()  # then let at least two more polls fail
        time.sleep(0.3)
    assert failures == 0
    for kind in stores:
        assert len(unreachable(kind)) == 1, "\n".join(unreachable(kind))
        assert states(served, f"live_{kind}")[str(before[kind])] == "AVAILABLE"

    for store in stores.values():
        store.start()
        if not store.keeps_data:  # moto and azurite run in memory: put the repository back
            upload_repository(store, local_repo, live_root)
        upload_live(store, live_root, 3)
    for kind in stores:
        wait_for(lambda k=kind: served_version(served, f"live_{k}") == 3, what=f"live_{kind} version 3")
        version, outputs = infer(served, f"live_{kind}", x)
        assert version == "3"
        np.testing.assert_allclose(outputs["y"], x["x"] * 3 + 1, rtol=1e-6)
        assert log_lines(served, f"storage for model live_{kind} reachable again")


def test_a_missing_bucket_in_each_store_shows_a_clear_error(served: ServerProcess) -> None:
    for kind, noun in (("s3", "bucket"), ("gcs", "bucket"), ("azure", "container")):
        status, body = http_json(f"{served.rest_url}/v2/models/missing_{kind}/ready")
        assert status != 200
        assert f"{noun} 'no-such-bucket' does not exist" in str(body.get("error")), body
        assert states(served, f"missing_{kind}") == {}


def test_bad_credentials_and_missing_buckets_show_one_clear_error_each(
    stores: dict[str, Emulator], local_repo: dict[str, Path], tmp_path: Path
) -> None:
    s3, gcs, azure = stores["s3"], stores["gcs"], stores["azure"]
    assert isinstance(azure, Azurite)
    bad_key_file = tmp_path / "key.json"
    bad_key_file.write_text('{"type": "service_account", "client_email": "nobody"}')
    env = {
        **s3.env(),
        **gcs.env(),
        "GOOGLE_APPLICATION_CREDENTIALS": str(bad_key_file),
        "AZURE_STORAGE_CONNECTION_STRING": azure.connection_string(key="d3Jvbmcga2V5"),
        "OVSERVE_STORAGE_TIMEOUT_SECONDS": TIMEOUT,
    }
    models = {
        "fine": str(local_repo["dynamic"]),
        "fine_s3": s3.url_for(BUCKET, "repo/dynamic"),
        "no_path_s3": s3.url_for(BUCKET, "repo/nothing-here"),
        "denied_azure": azure.url_for(BUCKET, "repo/dynamic"),
        "denied_gcs": gcs.url_for(BUCKET, "repo/dynamic"),
        "file_share": "azfs://share/repo/dynamic",
    }
    server = start_server(
        ["--config_path", str(config(tmp_path / "config.json", models))], tmp_path / "log", env
    )
    try:
        expected = {
            "no_path_s3": "doesn't exists",
            "denied_azure": "refused, check the credentials (AZURE_STORAGE_CONNECTION_STRING)",
            "denied_gcs": "GOOGLE_APPLICATION_CREDENTIALS",
            "file_share": "Azure file shares (azfs://) are not supported",
        }
        time.sleep(3 * float(POLL))  # a few polls: each error must still be logged once
        for name, text in expected.items():
            status, body = http_json(f"{server.rest_url}/v2/models/{name}/ready")
            assert status != 200
            assert text in str(body.get("error")), (name, body)
            assert "AVAILABLE" not in states(server, name).values()
            assert len(log_lines(server, f"model {name}: ")) == 1, server.log()
        for name in ("fine", "fine_s3"):
            _, outputs = infer(server, name, INPUTS["dynamic"])
            np.testing.assert_allclose(outputs["y"], INPUTS["dynamic"]["x"] * 2 + 1, rtol=1e-6)
    finally:
        assert server.stop() == 0, server.log()


def test_s3_without_credentials_falls_back_to_anonymous_reads(
    stores: dict[str, Emulator], local_repo: dict[str, Path], tmp_path: Path
) -> None:
    """No keys and no profile: botocore's default chain finds nothing, so S3 is read anonymously."""
    s3 = stores["s3"]
    assert isinstance(s3, MotoS3)
    files = local_files(local_repo["dynamic"] / "1")
    for path, rel in files:
        s3.upload_public(BUCKET, f"public/dynamic/1/{rel}", path.read_bytes())
    no_aws = {n: v for n, v in os.environ.items() if not n.startswith("AWS_") or n == "AWS_CA_BUNDLE"}
    with mock.patch.dict(os.environ, no_aws, clear=True):
        os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # no instance-metadata probe off the cloud
        url = parse_url(s3.url_for(BUCKET, "public/dynamic"))
        store = Store(url, StorageSettings(s3_endpoint=s3.url, list_timeout=float(TIMEOUT)))
        assert store.list_versions(url) == {1: f"{BUCKET}/public/dynamic/1"}
        target = tmp_path / "copy"
        target.mkdir()
        store.download(f"{BUCKET}/public/dynamic/1", target)
    assert sorted(rel for _, rel in local_files(target)) == sorted(rel for _, rel in files)
    assert all((target / rel).read_bytes() == path.read_bytes() for path, rel in files)
