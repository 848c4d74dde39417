from __future__ import annotations

import asyncio
import json
from pathlib import Path

from fakes import FakeLoader

from ovserve.config.storage import StorageSettings
from ovserve.config.types import ModelConfig
from ovserve.core.ids import ServableId
from ovserve.core.manager import ServableManager
from ovserve.core.states import State
from ovserve.errors import Code, ModelNotFound
from ovserve.lifecycle import Lifecycle
from ovserve.repository.sources import RepositorySource


def make(tmp_path: Path, models: dict[str, list[int]]) -> Path:
    entries = []
    for name, versions in models.items():
        for v in versions:
            (tmp_path / name / str(v)).mkdir(parents=True, exist_ok=True)
        entries.append({"config": {"name": name, "base_path": name}})
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_config_list": entries}))
    return config


def lifecycle(config: Path) -> tuple[Lifecycle, list[FakeLoader]]:
    made: list[FakeLoader] = []

    def factory(cfg: ModelConfig, version: int, path: Path) -> FakeLoader:
        made.append(FakeLoader(ServableId(cfg.name, version)))
        return made[-1]

    from ovserve.config.file import load_config_file

    models = load_config_file(str(config)).models
    return Lifecycle(
        ServableManager(), RepositorySource(factory, StorageSettings()), models, str(config)
    ), made


def test_new_and_removed_version_directories(tmp_path: Path) -> None:
    async def go() -> None:
        life, _ = lifecycle(make(tmp_path, {"a": [1]}))
        await life.start()
        (tmp_path / "a" / "2").mkdir()
        assert await life.sync()
        with life.manager.acquire("a") as s:
            assert s.version == 2
        assert life.manager.status("a", 1)[0].state == State.END
        assert not await life.sync()  # nothing new: nothing touched

    asyncio.run(go())


def test_config_reload_adds_changes_and_removes_only_what_changed(tmp_path: Path) -> None:
    async def go() -> None:
        config = make(tmp_path, {"a": [1], "b": [1]})
        life, made = lifecycle(config)
        await life.start()
        with life.manager.acquire("a") as a_before:
            pass
        doc = json.loads(config.read_text())
        doc["model_config_list"][1]["config"]["nireq"] = 2  # b changes
        doc["model_config_list"].append({"config": {"name": "c", "base_path": "a"}})  # c is new
        config.write_text(json.dumps(doc))
        outcome = await life.reload_config()
        assert outcome.changed and outcome.error is None
        with life.manager.acquire("a") as a_after:
            assert a_after is a_before  # untouched
        assert life.manager.is_available("b") and life.manager.is_available("c")
        assert sum(loader.loads for loader in made) == 4  # a, b, then only b again and c
        doc["model_config_list"] = doc["model_config_list"][1:]  # a removed
        config.write_text(json.dumps(doc))
        assert (await life.reload_config()).changed
        assert life.manager.status("a")[0].state == State.END

    asyncio.run(go())


def test_a_config_path_naming_the_directory_of_config_json_reloads(tmp_path: Path) -> None:
    async def go() -> None:
        config = make(tmp_path, {"a": [1]})
        life, _ = lifecycle(config)
        life.config_path = str(tmp_path)  # --config_path <dir>: config.json inside it (load_config_file)
        await life.start()
        doc = json.loads(config.read_text())
        doc["model_config_list"].append({"config": {"name": "b", "base_path": "a"}})
        config.write_text(json.dumps(doc))
        outcome = await life.reload_config()
        assert outcome.changed and outcome.error is None
        assert life.manager.is_available("b")

    asyncio.run(go())


def test_invalid_config_is_refused_whole_and_the_running_one_keeps_serving(tmp_path: Path) -> None:
    async def go() -> None:
        config = make(tmp_path, {"a": [1]})
        life, _ = lifecycle(config)
        await life.start()
        config.write_text('{"model_config_list": [{"config": {"name": "a", "base_path": "a", "bogus": 1}}]}')
        outcome = await life.reload_config()
        assert outcome.error is not None and "bogus" in outcome.error.message
        assert outcome.error.code == Code.FAILED_PRECONDITION
        assert life.manager.is_available("a")
        config.write_text("{not json")
        assert (await life.reload_config()).error is not None
        config.unlink()
        outcome = await life.reload_config()
        assert outcome.error is not None and "cannot open" in outcome.error.message
        assert life.manager.is_available("a")

    asyncio.run(go())


def test_unload_and_load_through_model_control(tmp_path: Path) -> None:
    async def go() -> None:
        life, _ = lifecycle(make(tmp_path, {"a": [1], "b": [1]}))
        await life.start()
        assert await life.unload_model("a")
        assert life.manager.status("a")[0].state == State.END
        assert not await life.sync()  # an unload sticks across polls
        assert life.manager.is_available("b")
        assert await life.load_model("a")
        assert life.manager.is_available("a")
        try:
            await life.unload_model("nope")
        except ModelNotFound as exc:
            assert "nope" in exc.message
        else:
            raise AssertionError("unknown model accepted")
        assert await life.replace_models((ModelConfig("c", str(tmp_path / "b")),))
        assert life.manager.is_available("c") and not life.manager.is_available("a")
        assert life.model_names() == ["c"]

    asyncio.run(go())


def test_a_reload_may_not_flip_a_model_between_stateful_and_stateless(caplog) -> None:  # type: ignore[no-untyped-def]
    from ovserve.config.types import StatefulConfig
    from ovserve.lifecycle import MODEL_TYPE_CHANGE, keep_model_types

    running = (ModelConfig("a", "/a", stateful=StatefulConfig()), ModelConfig("b", "/b"))
    wanted = (
        ModelConfig("a", "/a"),  # stateful -> stateless: refused, keeps its running config
        ModelConfig("b", "/b", stateful=StatefulConfig()),  # stateless -> stateful: refused
        ModelConfig("c", "/c", stateful=StatefulConfig()),  # new: taken as it is
    )
    kept = keep_model_types(running, wanted)
    assert kept == (running[0], running[1], wanted[2])
    assert caplog.text.count(MODEL_TYPE_CHANGE) == 2
    changed = (ModelConfig("a", "/a", stateful=StatefulConfig(max_sequence_number=3)),)
    assert keep_model_types(running, changed) == changed  # stateful settings may change
