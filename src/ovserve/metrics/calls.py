"""The calls that are counted: one :class:`CallInfo` per (API, interface, method), as OVMS labels them.

A front end passes the constant for its method to the request path; nothing else about
the call is needed to count it. ``versioned`` calls are counted per model version;
GetModelStatus and ModelReady are counted per model name (OVMS gives them no version
label). KServe's ModelStreamInfer counts each request of the stream as a gRPC ModelInfer.
"""

from __future__ import annotations

from typing import Literal

from ovserve.metrics.graphs import graph_call_index

Api = Literal["KServe", "TensorFlowServing"]
Interface = Literal["REST", "gRPC"]

#: interface -> index of its request-time histogram in a version's series
INTERFACES: tuple[Interface, ...] = ("REST", "gRPC")


class CallInfo:
    """Labels of one counted method. Compared by identity: use the module's constants.

    ``index`` is the call's slot in the per-version (``versioned``) or per-name counter
    lists; ``interface_index`` its slot in :data:`INTERFACES`; ``graph_index`` what the request path
    sets :data:`~ovserve.metrics.graphs.GRAPH_CALL` to (a KServe inference call's index, else 0).
    """

    __slots__ = (
        "api",
        "graph_index",
        "index",
        "interface",
        "interface_index",
        "labels",
        "method",
        "versioned",
    )

    def __init__(self, api: Api, interface: Interface, method: str, versioned: bool, index: int) -> None:
        self.api = api
        self.interface = interface
        self.method = method
        self.versioned = versioned
        self.index = index
        self.interface_index = INTERFACES.index(interface)
        self.graph_index = graph_call_index(interface, method) if api == "KServe" else 0
        #: the rendered labels that precede name/version on a counter line
        self.labels = f'api="{api}",interface="{interface}",method="{method}"'

    def __repr__(self) -> str:
        return f"CallInfo({self.api}, {self.interface}, {self.method})"


_versioned: list[CallInfo] = []
_unversioned: list[CallInfo] = []


def _call(api: Api, interface: Interface, method: str, versioned: bool = True) -> CallInfo:
    group = _versioned if versioned else _unversioned
    call = CallInfo(api, interface, method, versioned, len(group))
    group.append(call)
    return call


TFS_GRPC_PREDICT = _call("TensorFlowServing", "gRPC", "Predict")
TFS_GRPC_METADATA = _call("TensorFlowServing", "gRPC", "GetModelMetadata")
TFS_GRPC_STATUS = _call("TensorFlowServing", "gRPC", "GetModelStatus", versioned=False)
TFS_REST_PREDICT = _call("TensorFlowServing", "REST", "Predict")
TFS_REST_METADATA = _call("TensorFlowServing", "REST", "GetModelMetadata")
TFS_REST_STATUS = _call("TensorFlowServing", "REST", "GetModelStatus", versioned=False)
KSERVE_GRPC_INFER = _call("KServe", "gRPC", "ModelInfer")
KSERVE_GRPC_METADATA = _call("KServe", "gRPC", "ModelMetadata")
KSERVE_GRPC_READY = _call("KServe", "gRPC", "ModelReady", versioned=False)
KSERVE_REST_INFER = _call("KServe", "REST", "ModelInfer")
KSERVE_REST_METADATA = _call("KServe", "REST", "ModelMetadata")
KSERVE_REST_READY = _call("KServe", "REST", "ModelReady", versioned=False)

#: calls counted per model version, in slot order
VERSIONED_CALLS: tuple[CallInfo, ...] = tuple(_versioned)
#: calls counted per model name (no version label), in slot order
UNVERSIONED_CALLS: tuple[CallInfo, ...] = tuple(_unversioned)
