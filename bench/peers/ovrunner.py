"""The OpenVINO part of the peers' runtimes (every peer imports it; no server code here).

Compile once at load; per request take an idle infer request from a pool sized by
OPTIMAL_NUMBER_OF_INFER_REQUESTS, start it asynchronously, await its completion on the
event loop (OpenVINO's completion callback wakes it), copy the output out and give the request
back. The pool and the hand-off to OpenVINO's threads are ovserve's (which learns of the
completion from a waiter thread blocked in ``wait()`` instead), so that the comparison isolates
what the servers' front ends cost.
"""

from __future__ import annotations

import asyncio
import json
import os

import numpy as np
import openvino as ov

#: the plugin config every server in the benchmark compiles with (run.py sets it)
PLUGIN_CONFIG: dict[str, str] = json.loads(os.environ.get("BENCH_PLUGIN_CONFIG", "{}"))

_core: ov.Core | None = None


def core() -> ov.Core:
    global _core
    if _core is None:
        _core = ov.Core()
    return _core


class Runner:
    """One compiled model with its single input and output (the benchmark's models have one of each)."""

    def __init__(self, xml: str, plugin_config: dict[str, str] | None = None) -> None:
        config = PLUGIN_CONFIG if plugin_config is None else plugin_config
        self.compiled = core().compile_model(xml, "CPU", config)
        self.input_name = self.compiled.input(0).get_any_name()
        self.output_name = self.compiled.output(0).get_any_name()
        self.nireq = max(1, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._requests = [self.compiled.create_infer_request() for _ in range(self.nireq)]
        self._idle: asyncio.Queue[ov.InferRequest] | None = None

    def _pool(self) -> asyncio.Queue[ov.InferRequest]:
        # made on first use so that it belongs to the server's running loop
        if self._idle is None:
            self._idle = asyncio.Queue()
            for request in self._requests:
                self._idle.put_nowait(request)
        return self._idle

    def infer_sync(self, x: np.ndarray) -> np.ndarray:
        """One blocking call on the first infer request (for servers whose predict is synchronous)."""
        request = self._requests[0]
        request.infer({0: np.ascontiguousarray(x, dtype=np.float32)})
        return np.array(request.get_output_tensor(0).data, copy=True)

    async def infer(self, x: np.ndarray) -> np.ndarray:
        pool = self._pool()
        request = await pool.get()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[np.ndarray] = loop.create_future()

        def finished(_userdata: object) -> None:  # on an OpenVINO thread
            loop.call_soon_threadsafe(_finish, done, pool, request)

        try:
            request.set_callback(finished, None)
            request.start_async({0: np.ascontiguousarray(x, dtype=np.float32)})
        except BaseException:
            pool.put_nowait(request)
            raise
        # the request goes back to the pool when OpenVINO is done with it, even if the caller
        # went away meanwhile (a cancelled gRPC call cancels this await, not the inference)
        return await done


def _finish(
    done: asyncio.Future[np.ndarray], pool: asyncio.Queue[ov.InferRequest], request: ov.InferRequest
) -> None:
    try:
        output = request.get_output_tensor(0).data.copy()
    except Exception as exc:  # the inference failed
        if not done.done():
            done.set_exception(exc)
    else:
        if not done.done():
            done.set_result(output)
    finally:
        pool.put_nowait(request)
