"""Floor (a): the least a Python REST server does for a KServe v2 JSON inference.

A raw ASGI app (no framework) on uvicorn with uvloop and httptools, orjson for the JSON:
decode the request, the same OpenVINO call as ovserve (floors/ovcall.py), encode the answer.
Only what the benchmark sends is handled: ``POST /v2/models/<name>/infer`` with one FP32
input in ``data``, and ``GET /v2/models/<name>/ready``; anything else is a 404 or a 400.

    python asgi_app.py --model tiny=/path/model.xml --port 18130
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson
import uvicorn
from ovcall import Call

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
JSON_HEADERS = [(b"content-type", b"application/json")]


def make_app(name: str, call: Call) -> Callable[[dict[str, Any], Receive, Send], Awaitable[None]]:
    infer_path, ready_path = f"/v2/models/{name}/infer", f"/v2/models/{name}/ready"

    async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == ready_path:
            return await answer(send, 200, b"")
        if path != infer_path or scope["method"] != "POST":
            return await answer(send, 404, b'{"error":"not found"}')
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            tensor = orjson.loads(body)["inputs"][0]
            x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as exc:
            return await answer(send, 400, orjson.dumps({"error": str(exc)}))
        y = call(x)
        out = {"name": call.output_name, "datatype": "FP32", "shape": list(y.shape), "data": y.ravel()}
        await answer(
            send,
            200,
            orjson.dumps(
                {"model_name": name, "model_version": "1", "outputs": [out]},
                option=orjson.OPT_SERIALIZE_NUMPY,
            ),
        )

    return app


async def answer(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", required=True, help="name=/path/to/model.xml")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    name, xml = args.model.split("=", 1)
    app = make_app(name, Call(xml))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )


if __name__ == "__main__":
    main()
