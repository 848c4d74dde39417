"""A minimal OTLP trace receiver, over HTTP (protobuf bodies) or gRPC, as the OpenTelemetry SDK exports.

Run as its own process: ``python otlp_receiver.py OUT.jsonl [http|grpc]``. It binds 127.0.0.1 on a
free port, prints the port on stdout, and appends one JSON line per received span to OUT.jsonl:
name, trace and parent ids (hex), kind, attributes, and the resource's service.name.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def write_spans(out_path: str, request: Any) -> None:
    with open(out_path, "a") as out:
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    entry = {
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(),
                        "kind": span.kind,
                        "start": span.start_time_unix_nano,
                        "end": span.end_time_unix_nano,
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                        "service": resource.get("service.name"),
                    }
                    out.write(json.dumps(entry) + "\n")


class GrpcReceiver(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    def __init__(self, out_path: str) -> None:
        self.out_path = out_path

    def Export(self, request: Any, context: Any) -> Any:
        write_spans(self.out_path, request)
        return ExportTraceServiceResponse()


class Receiver(BaseHTTPRequestHandler):
    out_path = ""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path != "/v1/traces" or self.headers.get("content-type") != "application/x-protobuf":
            self.send_response(400)
            self.end_headers()
            return
        write_spans(self.out_path, ExportTraceServiceRequest.FromString(body))
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(out_path: str, protocol: str) -> None:
    if protocol == "grpc":
        server = grpc.server(ThreadPoolExecutor(2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(GrpcReceiver(out_path), server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        print(port, flush=True)
        server.wait_for_termination()
        return
    Receiver.out_path = out_path
    http = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    print(http.server_address[1], flush=True)
    http.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "http")
