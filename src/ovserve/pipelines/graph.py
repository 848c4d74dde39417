"""A pipeline's graph as the executor runs it: steps in topological order, analysed once at build.

Every node of a pipeline, the implicit ``request`` and ``response`` included, is a
:class:`Step` with an index: ``request`` is 0, the configured nodes follow in a
topological order, ``response`` is last. A step reads its inputs through
:class:`Binding` s (the producing step's index and the producer's own output name, the
alias already resolved), so a request never looks a name up in the configuration.

Demultiplexing is described by *levels*. A demultiplexer runs its dependents once per
item of its outputs; the items of nested demultiplexers nest. ``level`` is the tuple of
demultiplexers (step indices, outermost first) whose items a step runs once per;
``gathered`` the innermost demultiplexers whose items it stacks into its inputs (a
``gather_from_node`` step gathers one, ``response`` every one left). The validation
(:mod:`.validation`) guarantees that all inputs of a step come from one level, which
is ``level + gathered``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ovserve.config.pipelines import NodeConfig

#: the index of the ``request`` step in every graph
REQUEST_INDEX = 0
#: OVMS's limit on the items one dynamic demultiplexer may give
DEMULTIPLY_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Binding:
    """One input of a step: ``name`` (the step's input) is output ``item`` of step ``source``."""

    name: str
    source: int
    item: str


@dataclass(frozen=True, slots=True)
class Step:
    """One node of the graph, with everything a request needs precomputed.

    ``sources`` are the distinct steps it reads from; ``dependents`` the steps reading from
    it. ``demultiply`` is None (no demultiplexing), -1 (dynamic) or the fixed item count.
    ``kept`` are its outputs (own names) that later steps read: each run must give them, and
    a demultiplexer splits only these.
    """

    index: int
    name: str
    config: NodeConfig | None
    bindings: tuple[Binding, ...]
    sources: tuple[int, ...]
    dependents: tuple[int, ...]
    level: tuple[int, ...]
    gathered: tuple[int, ...]
    demultiply: int | None
    kept: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Graph:
    """All steps of one pipeline, indexed; ``steps[0]`` is ``request``, ``steps[-1]`` ``response``.

    ``gatherers[d]`` lists the steps that gather demultiplexer ``d`` (directly or as an
    inner level of what they gather): the executor tells them how many items ``d`` gave.
    """

    name: str
    steps: tuple[Step, ...]
    gatherers: dict[int, tuple[int, ...]]

    @property
    def response(self) -> Step:
        return self.steps[-1]
