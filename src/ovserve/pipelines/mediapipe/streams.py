"""MediaPipe stream names (``TAG:name``, ``TAG:index:name``, ``name``) and OVMS's graph packet types.

OVMS reads the tag of each graph ``input_stream`` / ``output_stream`` to choose how a KServe
tensor becomes a packet: a tag that *starts with* one of its prefixes picks that type, any
other tag (or none) means an OpenVINO tensor. ovserve serves the tensor types of OVMS's
classic-model and Python calculators (OpenVINO tensors and ``pyovms`` tensors); the other
types belong to calculators ovserve does not have, and a graph that uses them is refused
with a status naming the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class PacketType(Enum):
    """What a graph input or output stream carries (OVMS's ``mediapipe_packet_type_enum``)."""

    OV_TENSOR = "OVTENSOR"
    PY_TENSOR = "OVMS_PY_TENSOR"
    KFS_REQUEST = "REQUEST"
    KFS_RESPONSE = "RESPONSE"
    TF_TENSOR = "TFTENSOR"
    TFLITE_TENSOR = "TFLITE_TENSOR"
    MP_TENSOR = "TENSOR"
    MP_IMAGE = "IMAGE"


#: The packet types ovserve serves at a graph's inputs and outputs.
SERVED_TYPES = frozenset({PacketType.OV_TENSOR, PacketType.PY_TENSOR})
#: What each type not served needs, for the status that names it.
_NOT_SERVED_WHY = {
    PacketType.KFS_REQUEST: "KServe request pass-through",
    PacketType.KFS_RESPONSE: "KServe response pass-through",
    PacketType.TF_TENSOR: "TensorFlow tensors",
    PacketType.TFLITE_TENSOR: "TensorFlow Lite tensors",
    PacketType.MP_TENSOR: "MediaPipe tensors",
    PacketType.MP_IMAGE: "MediaPipe ImageFrame",
}


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream reference of a graph or node: its tag ("" when none), index and name."""

    tag: str
    index: int
    name: str

    @property
    def tag_index(self) -> str:
        return f"{self.tag}:{self.index}"

    @property
    def packet_type(self) -> PacketType:
        """The graph-level packet type its tag names (OVMS: prefix match; anything else is an OV tensor)."""
        for kind in PacketType:  # no prefix is a prefix of another: the order does not matter
            if self.tag.startswith(kind.value):
                return kind
        return PacketType.OV_TENSOR


def parse_stream(text: str) -> Stream:
    """``"TAG:name"``, ``"TAG:1:name"`` or ``"name"``; raises ValueError for anything else."""
    parts = text.split(":")
    if len(parts) == 1:
        tag, index, name = "", "0", parts[0]
    elif len(parts) == 2:
        tag, index, name = parts[0], "0", parts[1]
    elif len(parts) == 3:
        tag, index, name = parts
    else:
        raise ValueError(f"stream {text!r} is not TAG:name, TAG:index:name or name")
    if not name or not index.isdigit():
        raise ValueError(f"stream {text!r} is not TAG:name, TAG:index:name or name")
    return Stream(tag, int(index), name)


def not_served_why(kind: PacketType) -> str:
    return _NOT_SERVED_WHY.get(kind, kind.value)
