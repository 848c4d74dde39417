"""StatefulServable and the sequence manager: OVMS's sequence rules, errors, state per sequence, cleanup.

The wrapped servable is a fake step runner keeping a running sum as its "model state"
(a numpy array handed back and forth as the opaque state), with a gate to hold steps.
Nothing sleeps to wait: the tests drive the event loop and the cleaner by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import numpy as np
import pytest
from fakes import EchoServable

from ovserve.api.errors import http_status
from ovserve.config.types import ModelConfig, StatefulConfig
from ovserve.core.ids import ServableId
from ovserve.core.servable import Servable
from ovserve.errors import (
    BackendError,
    Code,
    InvalidInput,
    LoadError,
    MaxSequenceNumberReached,
    SequenceAlreadyExists,
    SequenceNotFound,
    SequenceTerminated,
    ServingError,
)
from ovserve.scheduling.sequences import SequenceCleaner
from ovserve.scheduling.stateful import StatefulServable, with_stateful
from ovserve.tensors import Dim, TensorSpec

SID = ServableId("m", 1)
X = TensorSpec("x", np.dtype(np.float32), (Dim.static(1), Dim.static(2)))


class SumRunner(Servable):
    """y = x + the sum of the earlier x of the sequence; the state is that sum."""

    def __init__(self) -> None:
        super().__init__(SID, [X], [TensorSpec("y", X.dtype, X.dims)])
        self.gate = asyncio.Event()
        self.gate.set()
        self.running = 0
        self.fail = False
        self.closed = False

    async def run(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise AssertionError("a stateful model runs steps only")

    async def run_step(
        self, inputs: Mapping[str, np.ndarray], state: object | None
    ) -> tuple[dict[str, np.ndarray], object]:
        self.running += 1
        try:
            await self.gate.wait()
            if self.fail:
                raise BackendError("Internal inference error: boom")
            previous = np.zeros((1, 2), np.float32) if state is None else state
            assert isinstance(previous, np.ndarray)
            total = previous + inputs["x"]
            return {"y": total}, total
        finally:
            self.running -= 1

    def close(self) -> None:
        self.closed = True


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def request(x: float, sequence_id: int | None = None, control: int | None = None) -> dict[str, np.ndarray]:
    inputs = {"x": np.full((1, 2), x, np.float32)}
    if sequence_id is not None:
        inputs["sequence_id"] = np.array([sequence_id], np.uint64)
    if control is not None:
        inputs["sequence_control_input"] = np.array([control], np.uint32)
    return inputs


def stateful(
    max_sequences: int = 500, cleaner: SequenceCleaner | None = None, cleanup: bool = True
) -> StatefulServable:
    return StatefulServable(SumRunner(), StatefulConfig(max_sequences, cleanup), cleaner)


async def step(
    s: StatefulServable, x: float, sequence_id: int | None = None, control: int | None = None
) -> tuple[float, int]:
    out = await s.infer(request(x, sequence_id, control))
    assert out["sequence_id"].dtype == np.uint64 and out["sequence_id"].shape == (1,)
    return float(out["y"][0, 0]), int(out["sequence_id"][0])


def test_special_inputs_are_not_model_inputs() -> None:
    s = stateful()
    assert list(s.inputs) == ["x"] and list(s.outputs) == ["y"]
    assert set(s.special_inputs) == {"sequence_id", "sequence_control_input"}
    assert s.special_inputs["sequence_id"].datatype == "UINT64"
    assert s.special_inputs["sequence_control_input"].datatype == "UINT32"
    assert list(s.special_outputs) == ["sequence_id"]


def test_sequences_keep_their_own_state_interleaved() -> None:
    async def test() -> None:
        s = stateful()
        assert await step(s, 1, 10, 1) == (1, 10)
        assert await step(s, 5, 20, 1) == (5, 20)
        assert await step(s, 1, 10) == (2, 10)
        assert await step(s, 5, 20, 0) == (10, 20)
        assert await step(s, 1, 10, 2) == (3, 10)
        assert await step(s, 5, 20) == (15, 20)
        assert 10 not in s.sequences and 20 in s.sequences

    run(test)


def test_start_without_id_gets_a_free_one() -> None:
    async def test() -> None:
        s = stateful()
        assert (await step(s, 1, None, 1))[1] == 1
        assert (await step(s, 1, 2, 1))[1] == 2
        assert (await step(s, 1, 0, 1))[1] == 3  # 0 is "no id"; 2 is taken
        assert (await step(s, 4, 3))[0] == 5

    run(test)


def test_start_resets_the_state_of_a_reused_id() -> None:
    async def test() -> None:
        s = stateful()
        await step(s, 3, 7, 1)
        await step(s, 3, 7, 2)
        assert await step(s, 1, 7, 1) == (1, 7)

    run(test)


@pytest.mark.parametrize(
    ("inputs", "error", "text"),
    [
        (request(1, 5), SequenceNotFound, "Sequence with provided ID does not exist - sequence_id: 5"),
        (request(1, 5, 2), SequenceNotFound, "Sequence with provided ID does not exist"),
        (request(1), InvalidInput, "Sequence ID has not been provided in request inputs"),
        (request(1, 0, 0), InvalidInput, "Sequence ID has not been provided in request inputs"),
        (request(1, None, 2), InvalidInput, "Sequence ID has not been provided in request inputs"),
        (request(1, 5, 3), InvalidInput, "Unexpected value of sequence control input"),
        (
            {**request(1), "sequence_id": np.array([5], np.int64)},
            InvalidInput,
            "Could not find sequence id in expected tensor proto field uint64_val",
        ),
        (
            {**request(1, 5), "sequence_control_input": np.array([1], np.int32)},
            InvalidInput,
            "Could not find sequence control input in expected tensor proto field uint32_val",
        ),
        (
            {**request(1), "sequence_id": np.array(5, np.uint64)},
            InvalidInput,
            "Special input proto does not contain tensor shape information",
        ),
        (
            {**request(1), "sequence_id": np.array([[5]], np.uint64)},
            InvalidInput,
            "Invalid number of shape dimensions - Required shape for sequence_id is: (1)",
        ),
        (
            {**request(1, 5), "sequence_control_input": np.array([1, 1], np.uint32)},
            InvalidInput,
            "Invalid input shape - Required shape for sequence_control_input is: (1)",
        ),
        (
            {"sequence_id": np.array([5], np.uint64)},
            InvalidInput,
            "Invalid number of inputs - Expected: 1; Actual: 0",
        ),
        (
            {**request(1, 5, 1), "z": np.zeros(1, np.float32)},
            InvalidInput,
            "Invalid number of inputs - Expected: 1; Actual: 2",
        ),
    ],
)
def test_request_errors_with_ovms_texts(
    inputs: dict[str, np.ndarray], error: type[ServingError], text: str
) -> None:
    async def test() -> None:
        s = stateful()
        with pytest.raises(error) as raised:
            await s.infer(inputs)
        assert raised.value.message.startswith(text), raised.value.message
        assert len(s.sequences) == 0

    run(test)


def test_duplicate_start_and_max_sequence_number() -> None:
    async def test() -> None:
        s = stateful(max_sequences=2)
        await step(s, 1, 1, 1)
        with pytest.raises(
            SequenceAlreadyExists, match=r"^Sequence with provided ID already exists - sequence_id: 1"
        ):
            await step(s, 1, 1, 1)
        await step(s, 1, None, 1)
        with pytest.raises(MaxSequenceNumberReached) as full:
            await step(s, 1, 9, 1)
        assert full.value.message.startswith(
            "Max sequence number has been reached. Could not create new sequence."
        )
        assert full.value.code == Code.UNAVAILABLE and http_status(full.value) == 503
        await step(s, 1, 1, 2)  # an end frees a place
        assert (await step(s, 1, 9, 1))[1] == 9

    run(test)


def test_error_codes_follow_ovms() -> None:
    assert http_status(SequenceNotFound("x")) == 404 and SequenceNotFound.code == Code.NOT_FOUND
    assert (
        http_status(SequenceAlreadyExists("x")) == 409 and SequenceAlreadyExists.code == Code.ALREADY_EXISTS
    )
    assert http_status(SequenceTerminated("x")) == 412 and SequenceTerminated.code == Code.FAILED_PRECONDITION


def test_steps_of_one_sequence_run_one_at_a_time_and_a_start_waits_for_an_end() -> None:
    async def test() -> None:
        s = stateful()
        runner = s.inner
        assert isinstance(runner, SumRunner)
        await step(s, 1, 4, 1)
        runner.gate.clear()
        second = asyncio.create_task(step(s, 1, 4))
        end = asyncio.create_task(step(s, 1, 4, 2))
        other = asyncio.create_task(step(s, 9, 5, 1))
        while runner.running < 2:
            await asyncio.sleep(0)
        assert runner.running == 2  # sequence 4's second step and sequence 5's start; the end waits
        with pytest.raises(SequenceNotFound):  # the end has arrived: no further step
            await step(s, 1, 4)
        with pytest.raises(SequenceTerminated, match=r"^Sequence last request is being processed"):
            await step(s, 1, 4, 1)
        runner.gate.set()
        assert await second == (2, 4) and await end == (3, 4) and await other == (9, 5)
        assert 4 not in s.sequences

    run(test)


def test_a_failed_start_leaves_no_sequence_and_a_failed_step_keeps_the_state() -> None:
    async def test() -> None:
        s = stateful()
        runner = s.inner
        assert isinstance(runner, SumRunner)
        runner.fail = True
        with pytest.raises(BackendError):
            await step(s, 1, 3, 1)
        assert 3 not in s.sequences
        runner.fail = False
        await step(s, 1, 3, 1)
        runner.fail = True
        with pytest.raises(BackendError):
            await step(s, 5, 3)
        runner.fail = False
        assert await step(s, 1, 3) == (2, 3)

    run(test)


def test_cleaner_drops_sequences_idle_for_a_whole_interval() -> None:
    async def test() -> None:
        cleaner = SequenceCleaner()
        s = stateful(cleaner=cleaner)
        kept = stateful(cleaner=cleaner, cleanup=False)
        await step(s, 1, 1, 1)
        await step(s, 1, 2, 1)
        await step(kept, 1, 1, 1)
        assert cleaner.managers == [s.sequences]
        assert cleaner.scan() == 0  # first scan marks both idle
        await step(s, 1, 2)  # sequence 2 is active again
        assert cleaner.scan() == 1
        assert 1 not in s.sequences and 2 in s.sequences and 1 in kept.sequences
        with pytest.raises(SequenceNotFound):
            await step(s, 1, 1)
        assert await step(s, 1, 2) == (3, 2)
        s.close()
        assert cleaner.managers == [] and len(s.sequences) == 0

    run(test)


def test_cleaner_skips_a_sequence_running_a_step() -> None:
    async def test() -> None:
        cleaner = SequenceCleaner()
        s = stateful(cleaner=cleaner)
        runner = s.inner
        assert isinstance(runner, SumRunner)
        await step(s, 1, 1, 1)
        cleaner.scan()
        runner.gate.clear()
        running = asyncio.create_task(step(s, 1, 1))
        while runner.running < 1:
            await asyncio.sleep(0)
        assert cleaner.scan() == 0
        runner.gate.set()
        assert await running == (2, 1)

    run(test)


def test_close_ends_every_sequence_and_a_waiting_step_gets_not_found() -> None:
    async def test() -> None:
        s = stateful()
        runner = s.inner
        assert isinstance(runner, SumRunner)
        await step(s, 1, 1, 1)
        runner.gate.clear()
        first = asyncio.create_task(step(s, 1, 1))
        waiting = asyncio.create_task(step(s, 1, 1))
        while runner.running < 1:
            await asyncio.sleep(0)
        s.sequences.clear()
        runner.gate.set()
        assert await first == (2, 1)
        with pytest.raises(SequenceNotFound):
            await waiting
        s.close()
        assert runner.closed

    run(test)


def test_loader_wraps_stateful_models_and_refuses_them_with_several_processes(tmp_path: Path) -> None:
    class Loader:
        def load(self) -> Servable:
            return SumRunner()

    config = ModelConfig("m", str(tmp_path), stateful=StatefulConfig())
    made = with_stateful(lambda c, v, p: Loader(), SequenceCleaner())
    assert isinstance(made(config, 1, tmp_path).load(), StatefulServable)
    assert isinstance(made(ModelConfig("m", str(tmp_path)), 1, tmp_path).load(), SumRunner)
    refused = with_stateful(lambda c, v, p: Loader(), None, single_process=False)
    with pytest.raises(LoadError, match="single process"):
        refused(config, 1, tmp_path).load()


def test_a_backend_without_steps_cannot_serve_stateful_models() -> None:
    with pytest.raises(LoadError, match="cannot serve stateful models"):
        StatefulServable(EchoServable(SID), StatefulConfig())
