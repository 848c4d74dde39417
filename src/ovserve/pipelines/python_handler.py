"""Loading a Python node's handler file: the ``OvmsPythonModel`` instance, initialized as OVMS does.

OVMS appends the handler's directory to ``sys.path`` (so the handler may import modules
beside it), imports the file, requires a class ``OvmsPythonModel`` with an ``execute``
method, makes one instance per node and calls its ``initialize(kwargs)`` when it has one,
with ``node_name``, ``input_names``, ``output_names`` and ``base_path``.

Unlike OVMS, which imports the file by its bare name (two handlers named ``model.py`` in
different directories are one module there), each node's handler is imported as a module
of its own, so nodes never share module-level state by accident.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ovserve.errors import PythonNodeLoadFailed

#: the class every handler file defines
MODEL_CLASS = "OvmsPythonModel"

_module_ids = itertools.count(1)


@dataclass(frozen=True)
class Handler:
    """What a Python node is made from: its name, its handler file and its stream names."""

    node_name: str
    path: Path
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def initialize_kwargs(self) -> dict[str, object]:
        """The ``kwargs`` OVMS passes to ``initialize`` (lists, as OVMS's are)."""
        return {
            "node_name": self.node_name,
            "input_names": list(self.input_names),
            "output_names": list(self.output_names),
            "base_path": str(self.path.parent),
        }

    def failure(self, detail: str) -> PythonNodeLoadFailed:
        return PythonNodeLoadFailed(
            f"{PythonNodeLoadFailed.init_failed} - node {self.node_name!r}, handler_path {str(self.path)!r}: {detail}"
        )


def resolve_handler(
    node_name: str,
    handler_path: str,
    input_names: Sequence[str],
    output_names: Sequence[str],
    base_dir: str | Path | None = None,
) -> Handler:
    """The handler of a node; a relative ``handler_path`` is taken from ``base_dir`` (OVMS: the
    graph's directory). Raises :class:`PythonNodeLoadFailed` when the file does not exist."""
    path = Path(handler_path)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    path = path.absolute()
    if not path.is_file():
        raise PythonNodeLoadFailed(
            f"{PythonNodeLoadFailed.missing_file} - node {node_name!r}, handler_path {str(path)!r}"
        )
    return Handler(node_name, path, tuple(input_names), tuple(output_names))


def _import(handler: Handler) -> ModuleType:
    directory = str(handler.path.parent)
    if directory not in sys.path:
        sys.path.append(directory)  # as OVMS: the handler may import modules beside it
    stem = re.sub(r"\W", "_", handler.path.stem)
    name = f"_ovserve_python_node_{next(_module_ids)}_{stem}"
    spec = importlib.util.spec_from_file_location(name, handler.path)
    if spec is None or spec.loader is None:
        raise handler.failure("not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses, pickle and typing look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise handler.failure(f"importing it raised {type(exc).__name__}: {exc}") from exc
    return module


def load_model(handler: Handler) -> tuple[object, ModuleType]:
    """Import the handler, make its ``OvmsPythonModel`` and initialize it; runs the user's code.

    Returns the instance and its module (to drop when the node closes). Raises
    :class:`PythonNodeLoadFailed` naming the node, the file and what went wrong.
    """
    module = _import(handler)
    try:
        model_class = getattr(module, MODEL_CLASS, None)
        if model_class is None:
            raise handler.failure(f"no {MODEL_CLASS} class found")
        if not callable(getattr(model_class, "execute", None)):
            raise handler.failure(f"{MODEL_CLASS} does not implement the execute method")
        try:
            model = model_class()
        except BaseException as exc:
            raise handler.failure(f"{MODEL_CLASS}() raised {type(exc).__name__}: {exc}") from exc
        initialize = getattr(model, "initialize", None)
        if initialize is not None:
            try:
                initialize(handler.initialize_kwargs())
            except BaseException as exc:
                raise handler.failure(f"initialize raised {type(exc).__name__}: {exc}") from exc
    except PythonNodeLoadFailed:
        forget_module(module)
        raise
    return model, module


def forget_module(module: ModuleType) -> None:
    """Drop a handler's module from ``sys.modules`` (its node is closed)."""
    if sys.modules.get(module.__name__) is module:
        del sys.modules[module.__name__]
