"""Model control: the KServe / Triton model repository extension (index, load and unload), over REST and gRPC.

The "repository" is the configured model list (config.json, ``--model_path`` or the
last TF Serving ``HandleReloadConfigRequest``). Load and unload go through
:class:`~ovserve.api.context.ModelControl`; the index is drawn from the manager's
statuses, the same ones TF Serving's status API and KServe readiness read, so all of
them agree.

Index entries, one per version the manager knows (ascending), with Triton's state names
(manager state -> ``state``, ``reason``):

- START, LOADING -> ``LOADING``, ""
- LOADING with a load error -> ``UNAVAILABLE``, the error message
- AVAILABLE -> ``READY``, ""
- UNLOADING -> ``UNLOADING``, ""
- END -> ``UNAVAILABLE``, ``unloaded``

A model with no version yet has a single entry without ``version``: ``UNAVAILABLE``
with the reason when its repository could not be read, otherwise only its ``name``.

Load serves a configured model again (after an unload) and rescans its versions; it
answers success only if every version it aspires to is AVAILABLE, and otherwise
INVALID_ARGUMENT (HTTP 400) "failed to load '<name>': <why>" (the versions that did load
keep serving). Unload retires every version once requests in flight on it finished.
Both are NOT_FOUND (404) for a name the configuration does not list. Triton's ``config``
override and ``file:`` contents are UNIMPLEMENTED (501): ovserve loads from the
configured base path; every other parameter (``unload_dependents``, …) is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from ovserve.api.context import ModelControl, ServingContext
from ovserve.api.http import HttpRequest, HttpResponse, Router, json_response
from ovserve.api.not_served import not_served_reasons
from ovserve.core.manager import ServableManager
from ovserve.core.states import State, VersionStatus
from ovserve.errors import (
    Code,
    InvalidInput,
    InvalidJson,
    ModelLoadFailed,
    ModelNotFound,
    Unimplemented,
)

#: The extension names reported in server metadata when model control is available.
EXTENSION = "model_repository"

READY = "READY"
LOADING = "LOADING"
UNLOADING = "UNLOADING"
UNAVAILABLE = "UNAVAILABLE"
UNLOADED_REASON = "unloaded"

_TRITON_STATE = {
    State.START: LOADING,
    State.LOADING: LOADING,
    State.AVAILABLE: READY,
    State.UNLOADING: UNLOADING,
    State.END: UNAVAILABLE,
}


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One row of the repository index; empty strings are absent fields."""

    name: str
    version: str = ""
    state: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, str]:
        doc = {"name": self.name}
        if self.version:
            doc["version"] = self.version
        if self.state:
            doc["state"] = self.state
            doc["reason"] = self.reason
        return doc


def triton_state(status: VersionStatus) -> tuple[str, str]:
    """The Triton ``(state, reason)`` of one version status."""
    if status.state == State.END:
        return UNAVAILABLE, UNLOADED_REASON
    if status.error_code != Code.OK and status.state in (State.START, State.LOADING):
        return UNAVAILABLE, status.error_message
    return _TRITON_STATE[status.state], ""


def repository_index(ctx: ServingContext, ready_only: bool = False) -> list[IndexEntry]:
    """Every model the manager or the configuration knows, each version with its state."""
    manager = ctx.manager
    names = set(manager.names())
    if ctx.control is not None:
        names.update(ctx.control.model_names())
    entries: list[IndexEntry] = []
    for name in sorted(names):
        entries += _model_entries(manager, name)
    if ready_only:
        entries = [entry for entry in entries if entry.state == READY]
    return entries


def _model_entries(manager: ServableManager, name: str) -> list[IndexEntry]:
    try:
        statuses = manager.status(name)
        stream_error = manager.stream_error(name)
    except ModelNotFound:  # configured, not yet declared to the manager
        return [IndexEntry(name)]
    if not statuses:
        if stream_error is not None:
            return [IndexEntry(name, "", UNAVAILABLE, stream_error.message)]
        return [IndexEntry(name)]
    return [
        IndexEntry(name, str(status.version), *triton_state(status))
        for status in sorted(statuses, key=lambda s: s.version)
    ]


def control_of(ctx: ServingContext) -> ModelControl:
    if ctx.control is None:
        raise Unimplemented("The model repository extension is not available on this server")
    return ctx.control


def check_load_parameters(name: str, parameters: Iterable[str]) -> None:
    """Refuse what ovserve cannot honour (a config override, model files); ignore the rest."""
    for key in parameters:
        if key == "config":
            raise Unimplemented(
                f"Loading model {name} with a 'config' override is not supported: ovserve loads it "
                "from its configured base_path with the settings of its config.json entry"
            )
        if key.startswith("file:"):
            raise Unimplemented(
                f"Loading model {name} from files sent in the request ({key}) is not supported: "
                "ovserve loads it from its configured base_path"
            )


async def load_model(ctx: ServingContext, name: str, parameters: Iterable[str] = ()) -> None:
    """Load (or rescan) a configured model; raises unless every version it aspires to is AVAILABLE."""
    control = control_of(ctx)
    check_load_parameters(name, parameters)
    await control.load_model(name)
    failures = not_served_reasons(ctx.manager, name)
    if failures:
        raise ModelLoadFailed(name, failures)


async def unload_model(ctx: ServingContext, name: str) -> None:
    """Retire every version of a configured model (waits for requests in flight on it)."""
    await control_of(ctx).unload_model(name)


def check_repository_name(repository: str) -> None:
    if repository:
        raise Unimplemented(
            f"Naming a repository ({repository!r}) is not supported: ovserve serves one repository, "
            "its configured models; leave repository_name empty"
        )


# -- REST ------------------------------------------------------------------------------
def _body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object; an empty body is an empty object."""
    if not request.body.strip():
        return {}
    try:
        doc = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(str(exc)) from None
    if not isinstance(doc, dict):
        raise InvalidInput("Request body should be JSON object")
    return doc


def _parameters(doc: dict[str, Any]) -> dict[str, Any]:
    parameters = doc.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidInput(f"Invalid JSON structure, parameters should be an object; Actual: {parameters!r}")
    return parameters


class RepositoryRest:
    """``POST /v2/repository/index``, ``…/models/{name}/load`` and ``…/unload``."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    async def index(self, request: HttpRequest) -> HttpResponse:
        ready = _body(request).get("ready", False)
        if not isinstance(ready, bool):
            raise InvalidInput(f"Invalid JSON structure, ready should be true or false; Actual: {ready!r}")
        return json_response([entry.to_json() for entry in repository_index(self.ctx, ready)])

    async def load(self, request: HttpRequest) -> HttpResponse:
        parameters = _parameters(_body(request))
        await load_model(self.ctx, request.params["name"], parameters)
        return HttpResponse(200)

    async def unload(self, request: HttpRequest) -> HttpResponse:
        _parameters(_body(request))  # unload_dependents: nothing depends on a model here
        await unload_model(self.ctx, request.params["name"])
        return HttpResponse(200)


def add_routes(router: Router, ctx: ServingContext) -> None:
    """Mount the repository extension's REST endpoints on ``router``."""
    api = RepositoryRest(ctx)
    router.add("POST", "/v2/repository/index", api.index)
    router.add("POST", "/v2/repository/models/{name}/load", api.load)
    router.add("POST", "/v2/repository/models/{name}/unload", api.unload)
