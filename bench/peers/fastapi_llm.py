"""The obvious hand-written LLM server: FastAPI + OpenVINO GenAI's LLMPipeline behind a lock.

``python fastapi_llm.py MODEL_DIR PORT`` serves ``POST /v3/completions`` (prompt, max_tokens,
ignore_eos, stream, stream_options.include_usage) with one server-sent event per text piece of
GenAI's streamer and the usage chunk when asked (the generated tokens as GenAI counts them), so
bench/genai.py drives it as it drives ovserve. One generation at a time: LLMPipeline is not shared.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading

import openvino_genai as ov_genai
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

app = FastAPI()
pipe = ov_genai.LLMPipeline(sys.argv[1], "CPU")
lock = threading.Lock()


@app.post("/v3/completions")
async def completions(request: Request) -> StreamingResponse:
    body = await request.json()
    config = pipe.get_generation_config()
    config.max_new_tokens = int(body.get("max_tokens", 16))
    config.ignore_eos = bool(body.get("ignore_eos", False))
    config.apply_chat_template = False
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | int | None] = asyncio.Queue()
    usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def streamer(text: str) -> ov_genai.StreamingStatus:
        loop.call_soon_threadsafe(queue.put_nowait, text)
        return ov_genai.StreamingStatus.RUNNING

    def run() -> None:
        with lock:
            result = pipe.generate([body["prompt"]], config, streamer)
        loop.call_soon_threadsafe(queue.put_nowait, int(result.perf_metrics.get_num_generated_tokens()))
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=run, daemon=True).start()

    async def events():  # type: ignore[no-untyped-def]
        while (item := await queue.get()) is not None:
            if isinstance(item, str):
                yield "data: " + json.dumps({"choices": [{"index": 0, "text": item}]}) + "\n\n"
            elif usage:
                yield "data: " + json.dumps({"choices": [], "usage": {"completion_tokens": item}}) + "\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
