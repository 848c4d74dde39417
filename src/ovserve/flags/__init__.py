"""OVMS's command-line flags as ovserve knows them: name, type, default, help, status.

One table (:data:`FLAGS`, assembled in :mod:`.table` from one module per concept: :mod:`.server`,
:mod:`.security`, :mod:`.models`, :mod:`.generative`) serves parsing (:mod:`ovserve.cli`) and the
help text (:func:`usage`); :mod:`.flag` defines a flag and where its shown default comes from.
OVMS's flags of features ovserve does not serve are not in the table: :mod:`ovserve.ovms_flags`
names their feature.
"""

from ovserve.flags.flag import GROUPS, Flag, Kind
from ovserve.flags.table import FLAGS
from ovserve.flags.usage import usage

__all__ = ["FLAGS", "GROUPS", "Flag", "Kind", "usage"]
