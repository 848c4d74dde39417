"""Build hook for ovserve: generate the protocol modules during every build.

All metadata lives in pyproject.toml. This file declares the one (optional) C extension,
``pyovms._buffer``, and swaps in a ``build_py``
that runs ``scripts/gen_protos.py`` (loaded by path, since ``scripts`` is not a
package and the build may run in an isolated environment that only has the
build requirements) so that wheels, sdist builds and editable installs all
contain ``ovserve._generated``, which is never committed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
GENERATOR = ROOT / "scripts" / "gen_protos.py"
PROTOS = ROOT / "protos"
GENERATED_PACKAGE = ("ovserve", "_generated")


def load_generator() -> ModuleType:
    """Import scripts/gen_protos.py without it being on sys.path."""
    spec = importlib.util.spec_from_file_location("_ovserve_gen_protos", GENERATOR)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the proto generator from {GENERATOR}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithProtos(build_py):  # type: ignore[misc]  # setuptools may lack type stubs
    """``build_py`` that also generates ``ovserve._generated`` from protos/.

    Regular builds write into the build directory (the source tree is left
    alone); editable installs write into ``src/ovserve/_generated``, which is
    what they import.
    """

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            out_dir = ROOT.joinpath("src", *GENERATED_PACKAGE)
        else:
            out_dir = Path(self.build_lib).joinpath(*GENERATED_PACKAGE)
        written = load_generator().generate(PROTOS, out_dir)
        self._generated_outputs = [str(out_dir / rel) for rel in written]

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs: list[str] = list(super().get_outputs(include_bytecode))
        if not self.editable_mode:
            outputs += [p for p in getattr(self, "_generated_outputs", []) if p not in outputs]
        return outputs


#: pyovms.Tensor's buffer protocol on Python < 3.12 (a C base class). Optional: without a C
#: compiler the build goes on and Tensor falls back to __bytes__/__array__ (src/pyovms/_tensor.py).
BUFFER_EXTENSION = Extension("pyovms._buffer", ["src/pyovms/_buffer.c"], optional=True)

setup(cmdclass={"build_py": BuildPyWithProtos}, ext_modules=[BUFFER_EXTENSION])
