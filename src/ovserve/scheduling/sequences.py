"""Sequences of a stateful model: which are open, their saved state, and idle cleanup.

A client runs a sequence as a chain of requests: the first says *start*
(``sequence_control_input`` 1), the last says *end* (2), the ones between say nothing (0)
and name the sequence by its ``sequence_id``. The :class:`SequenceManager` of one model
version applies OVMS's rules to each request (:meth:`SequenceManager.begin`) and keeps
each open :class:`Sequence` with the model state its last step left. The
:class:`SequenceCleaner` scans every registered manager and drops the sequences that saw
no request for a whole scan interval.

Everything here runs on the event loop (no locks but the per-sequence ``asyncio.Lock``
that serializes the steps of one sequence); the saved state is opaque (the backend's).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import dataclass, field

from ovserve.core.ids import ServableId
from ovserve.errors import (
    MaxSequenceNumberReached,
    SequenceAlreadyExists,
    SequenceNotFound,
    SequenceTerminated,
    ServingError,
)

log = logging.getLogger(__name__)

UINT64_MAX = 2**64 - 1


class Control(enum.IntEnum):
    """``sequence_control_input`` values, as OVMS defines them."""

    NONE = 0
    START = 1
    END = 2


@dataclass(eq=False)
class Sequence:
    """One open sequence: its id, the state its last step left, and the lock its steps take.

    ``state`` is None until a first step saved one. ``terminated``: its end request has
    arrived (no step may follow). ``removed``: it is gone (ended, cleaned, or the model
    closed); a step that waited for the lock must not run. ``idle``: no step since the
    cleaner's last scan.
    """

    id: int
    state: object | None = None
    terminated: bool = False
    removed: bool = False
    idle: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def save(self, state: object) -> None:
        """Keep the state a step left; the sequence is active again."""
        self.state = state
        self.idle = False


def sequence_error(error: type[ServingError], sid: ServableId, sequence_id: int) -> ServingError:
    """A sequence error with OVMS's text, naming the sequence and the model."""
    text: str = getattr(error, "text", "")
    return error(f"{text} - sequence_id: {sequence_id}; model: {sid.name} version {sid.version}")


class SequenceManager:
    """The open sequences of one model version, at most ``max_sequences`` of them."""

    def __init__(self, sid: ServableId, max_sequences: int) -> None:
        self.sid = sid
        self.max_sequences = max_sequences
        self._sequences: dict[int, Sequence] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._sequences)

    def __contains__(self, sequence_id: int) -> bool:
        return sequence_id in self._sequences

    def begin(self, control: Control, sequence_id: int) -> Sequence:
        """The sequence a request runs on, by OVMS's rules (the special inputs already checked).

        Start: a new sequence with the given id, or a free one when the id is 0. Otherwise
        (none or end) the open sequence of that id; an end marks it terminated, and the
        caller removes it once the step ran (:meth:`remove`).
        """
        if control == Control.START:
            return self._create(sequence_id)
        sequence = self._sequences.get(sequence_id)
        if sequence is None or sequence.terminated:
            raise sequence_error(SequenceNotFound, self.sid, sequence_id)
        if control == Control.END:
            sequence.terminated = True
        return sequence

    def _create(self, sequence_id: int) -> Sequence:
        if len(self._sequences) >= self.max_sequences:
            raise MaxSequenceNumberReached(
                f"{MaxSequenceNumberReached.text} - model {self.sid.name} version {self.sid.version} "
                f"has {len(self._sequences)} open sequences (max_sequence_number {self.max_sequences})"
            )
        if sequence_id == 0:
            sequence_id = self._free_id()
        existing = self._sequences.get(sequence_id)
        if existing is not None:
            error = SequenceTerminated if existing.terminated else SequenceAlreadyExists
            raise sequence_error(error, self.sid, sequence_id)
        sequence = Sequence(sequence_id)
        self._sequences[sequence_id] = sequence
        return sequence

    def _free_id(self) -> int:
        """The next id, counting up from 1, that no open sequence has (0 is never an id)."""
        while self._next_id == 0 or self._next_id in self._sequences:
            self._next_id = self._next_id + 1 if self._next_id < UINT64_MAX else 1
        return self._next_id

    def remove(self, sequence: Sequence) -> None:
        """Drop ``sequence`` (its end ran, or its start failed)."""
        sequence.removed = True
        if self._sequences.get(sequence.id) is sequence:
            del self._sequences[sequence.id]

    def remove_idle(self) -> int:
        """One cleaner scan: drop sequences idle since the last scan, mark the others idle.

        A sequence running a step (its lock held) or ending is left alone, as OVMS does.
        Returns how many were dropped.
        """
        dropped = 0
        for sequence in list(self._sequences.values()):
            if sequence.terminated or sequence.lock.locked():
                continue
            if sequence.idle:
                log.info("%s: idle sequence %d removed", self.sid, sequence.id)
                self.remove(sequence)
                dropped += 1
            else:
                sequence.idle = True
        return dropped

    def clear(self) -> None:
        """Drop every sequence (the model version is closing)."""
        for sequence in self._sequences.values():
            sequence.removed = True
        self._sequences.clear()


class SequenceCleaner:
    """OVMS's sequence cleaner: every interval, one :meth:`SequenceManager.remove_idle` scan of
    each registered manager (models with ``idle_sequence_cleanup``).

    Managers register from the loader thread and unregister on close; :meth:`scan` runs on
    the event loop (``run_forever``), or directly where a test drives it.
    """

    def __init__(self) -> None:
        self._managers: dict[int, SequenceManager] = {}

    def register(self, manager: SequenceManager) -> None:
        self._managers[id(manager)] = manager

    def unregister(self, manager: SequenceManager) -> None:
        self._managers.pop(id(manager), None)

    @property
    def managers(self) -> list[SequenceManager]:
        return list(self._managers.values())

    def scan(self) -> int:
        """One scan of every registered manager; returns how many sequences were dropped."""
        return sum(manager.remove_idle() for manager in self.managers)

    async def run_forever(self, interval_seconds: float) -> None:
        """Scan every ``interval_seconds`` until cancelled."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                self.scan()
            except Exception:
                log.exception("the sequence cleaner's scan failed; retrying next interval")
