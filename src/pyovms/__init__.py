"""``pyovms``: the module OpenVINO Model Server's Python nodes import, as ovserve provides it.

Node code written for OVMS (``from pyovms import Tensor``) runs unchanged on ovserve:
:class:`Tensor` has OVMS's constructor ``Tensor(name, data, shape=None, datatype=None)``
and attributes ``name``, ``shape``, ``datatype``, ``data`` (a read-only memoryview),
``size`` (bytes), and exposes its buffer as OVMS's does (``bytes(t)``, ``np.array(t)``,
``memoryview(t)``). See docs/pipelines-python.md.
"""

from pyovms._tensor import BUFFER_FORMAT_TO_DATATYPE, DATATYPE_TO_BUFFER_FORMAT, Tensor

Tensor.__module__ = "pyovms"  # as OVMS's: pyovms.Tensor

__all__ = ["BUFFER_FORMAT_TO_DATATYPE", "DATATYPE_TO_BUFFER_FORMAT", "Tensor"]
