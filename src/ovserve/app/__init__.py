"""The composition root: the one package that wires everything and owns start and stop.

:mod:`.server` is the :class:`Server` (bind the ports, build the models, serve, drain) and
:func:`run`; :mod:`.sources` wires where servables come from and the wrappers they get.
"""

from ovserve.app.server import Server, StartupError, build_router, run
from ovserve.app.sources import with_wrappers

__all__ = ["Server", "StartupError", "build_router", "run", "with_wrappers"]
