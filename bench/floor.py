"""The in-process floor: a Python loop calling the compiled model directly, no server.

c = 1: a synchronous loop: set the input tensor (sharing the numpy array), ``infer()``, copy
       the output out — what a server does at the least per request (latency = one such call).
c > 1: an ``AsyncInferQueue`` of c jobs kept full (inputs shared, the output copied in the
       callback); latency = submit to completion callback.
Prints one ``BENCH_RESULT {json}`` line per concurrency. run.py pins this process to the
server's core where the servers are pinned.

    python floor.py --xml model.xml --plugin-config '{"PERFORMANCE_HINT": "THROUGHPUT"}' \
        --concurrency 1,8,64 --seconds 6 --warmup 2
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

import numpy as np
import openvino as ov


def _percentiles(lat_ns: list[int]) -> tuple[float, float]:
    a = np.asarray(lat_ns, dtype=np.float64) / 1000.0
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def sync_loop(compiled: ov.CompiledModel, x: np.ndarray, seconds: float, warmup: float) -> dict[str, float]:
    request = compiled.create_infer_request()

    def call() -> None:
        request.set_input_tensor(0, ov.Tensor(x, shared_memory=True))
        request.infer()
        request.get_output_tensor(0).data.copy()

    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        call()
    lat: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    stop = start + int(seconds * 1e9)
    now = start
    while now < stop:
        call()
        t = clock()
        lat.append(t - now)
        now = t
    elapsed = (now - start) / 1e9
    p50, p99 = _percentiles(lat)
    return {"requests": len(lat), "rps": len(lat) / elapsed, "p50_us": p50, "p99_us": p99, "nireq": 1}


def async_queue(
    compiled: ov.CompiledModel, x: np.ndarray, concurrency: int, seconds: float, warmup: float
) -> dict[str, float]:
    queue = ov.AsyncInferQueue(compiled, concurrency)
    lat: list[int] = []
    lock = threading.Lock()
    clock = time.perf_counter_ns
    recording = [False]

    def done(request: ov.InferRequest, started: int) -> None:
        request.get_output_tensor(0).data.copy()
        if recording[0]:
            t = clock()
            with lock:
                lat.append(t - started)

    queue.set_callback(done)
    inputs = {0: x}
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        queue.start_async(inputs, clock(), share_inputs=True)
    queue.wait_all()

    recording[0] = True
    start = clock()
    stop = start + int(seconds * 1e9)
    while clock() < stop:
        queue.get_idle_request_id()  # wait for a free job, so that latency excludes the wait
        queue.start_async(inputs, clock(), share_inputs=True)
    with lock:
        count = len(lat)  # completions inside the window
        window = list(lat)
    elapsed = (clock() - start) / 1e9
    queue.wait_all()
    p50, p99 = _percentiles(window)
    return {"requests": count, "rps": count / elapsed, "p50_us": p50, "p99_us": p99, "nireq": concurrency}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--xml", required=True)
    parser.add_argument("--plugin-config", default="{}")
    parser.add_argument("--concurrency", default="1,8,64")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--input", help=".npy file with the input (default: zeros)")
    args = parser.parse_args()

    compiled = ov.Core().compile_model(args.xml, "CPU", json.loads(args.plugin_config))
    shape = list(compiled.input(0).get_partial_shape().to_shape())
    x = np.load(args.input) if args.input else np.zeros(shape, dtype=np.float32)
    rate = 0.0
    for c in sorted(int(v) for v in args.concurrency.split(",")):
        # as in run.py: where c requests take long to cycle once, measure longer (at most 30 s)
        seconds = max(args.seconds, min(30.0, round(4 * c / rate))) if rate else args.seconds
        result = (
            sync_loop(compiled, x, seconds, args.warmup)
            if c == 1
            else async_queue(compiled, x, c, seconds, args.warmup)
        )
        rate = max(rate, result["rps"])
        result["seconds"] = seconds
        result["concurrency"] = c
        result["optimal_nireq"] = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        print("BENCH_RESULT " + json.dumps(result), flush=True)
    # skip interpreter teardown: with OpenVINO's callback threads around it has been seen to hang
    os._exit(0)


if __name__ == "__main__":
    main()
