"""The one table of flags (:data:`FLAGS`), in the order ``--help`` lists them within each group."""

from __future__ import annotations

from ovserve.flags.flag import Flag
from ovserve.flags.generative import GENERATIVE_FLAGS
from ovserve.flags.models import MODEL_FLAGS
from ovserve.flags.security import SECURITY_FLAGS
from ovserve.flags.server import SERVER_FLAGS

FLAGS: tuple[Flag, ...] = (*SERVER_FLAGS, *SECURITY_FLAGS, *MODEL_FLAGS, *GENERATIVE_FLAGS)
