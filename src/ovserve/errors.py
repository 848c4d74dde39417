"""The error model: one exception family with a canonical code.

Everything inside ovserve raises :class:`ServingError` (or a subclass named for the
domain). Front ends translate the code into an HTTP or gRPC status through the
single tables in ``ovserve.api.errors``; nothing here knows about HTTP or gRPC.
Messages are what the client reads: they name the model, input, expected and
received value, following OVMS's texts where OVMS has one.
"""

from __future__ import annotations

import enum

#: The exit code of a bad command line or config.json, as OVMS's (the supervisor reads it too).
EXIT_USAGE = 64

#: OVMS's text for a model base path that cannot be used (config.json, config updates, model loads).
BASE_PATH_INVALID = "The provided base path is invalid or doesn't exists"


class Code(enum.Enum):
    """Canonical status codes (the gRPC code names)."""

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16


class ServingError(Exception):
    """Base of every error a client may see. ``message`` is shown to the client as is."""

    code: Code = Code.UNKNOWN

    def __init__(self, message: str, code: Code | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidInput(ServingError):
    """The request is malformed or does not fit the model (400 / INVALID_ARGUMENT)."""

    code = Code.INVALID_ARGUMENT


class InvalidJson(InvalidInput):
    """A body that is not JSON (412 / FAILED_PRECONDITION, as OVMS); ``text`` is OVMS's wording."""

    code = Code.FAILED_PRECONDITION
    text = "The file is not valid json"

    def __init__(self, detail: str) -> None:
        super().__init__(f"{self.text} - {detail}")


class EmptyBinaryItem(InvalidInput):
    """An empty item sent to an image input. OVMS words it after the request field that carried
    it, so it carries the texts of both APIs and the front end picks its own: :attr:`message` is
    KServe's (``bytes_contents``), :meth:`tfs` gives TF Serving's (``string_val``)."""

    kserve_text = "Bytes contents is empty"
    tfs_text = "String val is empty"

    def __init__(self, detail: str, text: str = kserve_text) -> None:
        super().__init__(f"{text} - {detail}")
        self.detail = detail

    def tfs(self) -> EmptyBinaryItem:
        """The same error in TF Serving's words."""
        return EmptyBinaryItem(self.detail, self.tfs_text)


class ShapeMismatch(InvalidInput):
    """An input's shape does not fit the model's."""


class DtypeMismatch(InvalidInput):
    """An input's datatype is not the model's."""


class ModelNotFound(ServingError):
    """No model (stream) of that name exists."""

    code = Code.NOT_FOUND

    def __init__(self, name: str, message: str = "Model with requested name is not found") -> None:
        super().__init__(f"{message} - {name}" if name else message)
        self.name = name


class GraphNotFound(ModelNotFound):
    """No servable of that name, in a KServe inference call: OVMS (MediaPipe builds) looks for a
    model, then a DAG, then a MediaPipe graph, and answers what the last lookup found."""

    def __init__(self, name: str) -> None:
        super().__init__(name, "Mediapipe graph definition with requested name is not found")


class VersionNotFound(ServingError):
    """The model exists but not the requested version (or it has no version at all)."""

    code = Code.NOT_FOUND

    def __init__(self, name: str, version: int | None) -> None:
        what = f"{name} version {version}" if version is not None else name
        super().__init__(f"Model with requested version is not found - {what}")


class ModelNotReady(ServingError):
    """The version exists but is loading, failed, or unloading."""

    code = Code.UNAVAILABLE

    def __init__(self, name: str, version: int | None, detail: str = "") -> None:
        what = f"{name} version {version}" if version is not None else name
        text = f"Model with requested version is not loaded yet - {what}"
        super().__init__(f"{text}: {detail}" if detail else text)


class VersionRetired(ServingError):
    """The version was served once and has been unloaded."""

    code = Code.NOT_FOUND

    def __init__(self, name: str, version: int) -> None:
        super().__init__(f"Model with requested version is retired - {name} version {version}")


class QueueFull(ServingError):
    """A bounded queue refused the request."""

    code = Code.RESOURCE_EXHAUSTED


class DeadlineExceeded(ServingError):
    """The request's deadline passed before it was served."""

    code = Code.DEADLINE_EXCEEDED


class Unimplemented(ServingError):
    """A valid request for something ovserve does not do."""

    code = Code.UNIMPLEMENTED


class Unauthenticated(ServingError):
    """The request carries no API key, or the wrong one (401 / UNAUTHENTICATED); OVMS's text."""

    code = Code.UNAUTHENTICATED

    def __init__(self) -> None:
        super().__init__("Unauthorized request due to invalid or missing api-key")


class BackendError(ServingError):
    """The inference engine failed while running a valid request."""

    code = Code.INTERNAL


class InternalError(ServingError):
    """An unexpected failure while serving; the client reads a generic text (detail to the log)."""

    code = Code.INTERNAL


class UnsupportedOutput(ServingError):
    """A model output the protocol cannot carry (its dtype, or a layout the format needs)."""

    code = Code.INTERNAL


class MethodNotSupported(ServingError):
    """A URL naming a method the protocol does not have (404, as OVMS)."""

    code = Code.NOT_FOUND


class ModelLoadFailed(ServingError):
    """An explicit model load (model control) left the model not fully served; names why."""

    code = Code.INVALID_ARGUMENT

    def __init__(self, name: str, reasons: list[str]) -> None:
        super().__init__(f"failed to load '{name}': {'; '.join(reasons)}")


class ReloadIncomplete(ServingError):
    """A config reload was applied, but some of its models did not become available (UNKNOWN,
    as TF Serving); names them and why."""

    code = Code.UNKNOWN

    def __init__(self, failures: list[str]) -> None:
        super().__init__(
            "The new config is applied, but some models did not become available: " + ", ".join(failures)
        )


class ConfigFileUnreadable(ServingError):
    """A config reload found config.json missing or unreadable (NOT_FOUND, as OVMS)."""

    code = Code.NOT_FOUND


class ConfigReloadFailed(ServingError):
    """A config reload refused config.json, or applied it without its invalid entries."""

    code = Code.FAILED_PRECONDITION


class LoadError(ServingError):
    """A model version could not be loaded; carried into the version's status."""

    code = Code.UNKNOWN


# -- pipelines and graphs served like models: OVMS's texts for one that cannot take requests ---


class NotLoadedYet(ServingError):
    """A pipeline or graph is configured but cannot serve now (invalid, a model it uses is missing or
    changed, or it failed to build); UNAVAILABLE. ``text`` is OVMS's for the kind; the name and the
    reason follow it."""

    code = Code.UNAVAILABLE
    text = "Servable is not loaded yet"

    def __init__(self, name: str, detail: str = "") -> None:
        text = f"{self.text} - {name}"
        super().__init__(f"{text}: {detail}" if detail else text)


class Retired(ServingError):
    """A pipeline or graph was served once and the configuration no longer lists it; NOT_FOUND."""

    code = Code.NOT_FOUND
    text = "Servable is retired"

    def __init__(self, name: str) -> None:
        super().__init__(f"{self.text} - {name}")


class PipelineNotLoadedYet(NotLoadedYet):
    """A DAG pipeline that is not valid now (REST 404, as OVMS)."""

    text = "Pipeline is not loaded yet"


class PipelineRetired(Retired):
    """A DAG pipeline that config.json no longer lists."""

    text = "Pipeline is retired"


class GraphNotLoadedYet(NotLoadedYet):
    """A MediaPipe graph that did not build (REST 500: OVMS's HTTP table has no entry for it)."""

    text = "Mediapipe is not loaded yet"


class GraphRetired(Retired):
    """A MediaPipe graph that the configuration no longer lists (REST 500, as GraphNotLoadedYet)."""

    text = "Mediapipe is retired"


# -- MediaPipe graphs (ovserve.pipelines.mediapipe), with OVMS's texts ------------------------


class GraphExecutionFailed(ServingError):
    """A node of a MediaPipe graph failed on a request; names the node, keeps the failure's code."""

    text = "Mediapipe execution failed. MP status"

    def __init__(self, node: str, error: ServingError) -> None:
        super().__init__(f"{self.text} - node {node}: {error.message}", error.code)
        self.node = node


class GraphInputInvalid(InvalidInput):
    """A request's inputs do not fit a graph's input streams (INVALID_ARGUMENT, as OVMS)."""


# -- stateful models: the sequence errors, with OVMS's texts ---------------------------------


class SequenceNotFound(ServingError):
    """No open sequence has the request's ``sequence_id`` (never started, ended, or cleaned)."""

    code = Code.NOT_FOUND
    text = "Sequence with provided ID does not exist"


class SequenceAlreadyExists(ServingError):
    """A sequence start named an id that an open sequence has."""

    code = Code.ALREADY_EXISTS
    text = "Sequence with provided ID already exists"


class SequenceTerminated(ServingError):
    """A sequence start named an id whose last (end) request is still running."""

    code = Code.FAILED_PRECONDITION
    text = "Sequence last request is being processed and it's not available anymore"


class MaxSequenceNumberReached(ServingError):
    """A sequence start when ``max_sequence_number`` sequences are open (HTTP 503, as OVMS)."""

    code = Code.UNAVAILABLE
    text = "Max sequence number has been reached. Could not create new sequence."


# -- C custom nodes of pipelines (ovserve.pipelines.custom_node), with OVMS's texts -------------


class CustomNodeLibraryInvalid(ServingError):
    """A custom node library cannot be used: it does not open, lacks a symbol, or its node's
    ``initialize`` or metadata call failed. Pipelines using it are not served (their status says why)."""

    code = Code.FAILED_PRECONDITION


class CustomNodeFailed(ServingError):
    """A custom node's ``execute`` failed, or handed back outputs that break the interface
    (500 / UNKNOWN, as OVMS answers its node-library statuses)."""

    code = Code.UNKNOWN


class ConfigError(ServingError):
    """The command line or config.json is invalid; ``key`` names the offending setting."""

    code = Code.INVALID_ARGUMENT

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}" if key else problem)
        self.key = key
        self.problem = problem


class StartupError(Exception):
    """The server could not start (a port could not be bound); the process exits 64."""


# -- pipelines (DAGs): OVMS's texts -------------------------------------------------------------


class PipelineInvalid(ServingError):
    """A pipeline definition that cannot be served; ``text`` is OVMS's status text, ``detail`` names
    the node and tensor. The pipeline's status carries it (the pipeline is not served)."""

    code = Code.FAILED_PRECONDITION

    def __init__(self, text: str, detail: str) -> None:
        super().__init__(f"{text} - {detail}" if detail else text)
        self.text = text
        self.detail = detail


class PipelineExecutionFailed(ServingError):
    """A pipeline request broke one of the engine's rules while running (a demultiplexer's output
    of the wrong shape, gathered shards that differ); OVMS answers these 500 / UNKNOWN."""

    code = Code.UNKNOWN

    def __init__(self, text: str, detail: str) -> None:
        super().__init__(f"{text} - {detail}")
        self.text = text


class DemultiplexerNoResults(ServingError):
    """A dynamic demultiplexer gave zero items: OVMS ends the request with ABORTED (HTTP 204)."""

    code = Code.ABORTED
    text = "Pipeline execution aborted due to no content from custom node"

    def __init__(self, node: str) -> None:
        super().__init__(f"{self.text} - node: {node}")
        self.node = node


class NodeFailed(ServingError):
    """A pipeline node failed: the node's own error (its code kept) with the node's name."""

    def __init__(self, node: str, cause: ServingError) -> None:
        super().__init__(f"{cause.message}; node: {node}", cause.code)
        self.node = node
        self.cause = cause


# -- pipelines: Python nodes (OVMS's status texts where it has them) ---------------------------


class PythonNodeLoadFailed(ServingError):
    """A Python node could not be made (handler file missing, no ``OvmsPythonModel``, its
    ``initialize`` raised); the pipeline or graph using it is not served. Names node and file."""

    code = Code.FAILED_PRECONDITION
    missing_file = "The Python Node file path does not exist"
    init_failed = "The Python Node state initialization failed"


class PythonNodeFailed(ServingError):
    """A Python node's ``execute`` raised, or gave what a node cannot give; names the node."""

    code = Code.INTERNAL
