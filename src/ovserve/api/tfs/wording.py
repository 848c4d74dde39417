"""TF Serving's words for the errors that OVMS words after the API's request fields.

The domain errors carry every API's text (:class:`~ovserve.errors.EmptyBinaryItem`: KServe's
by default); the TF Serving front ends answer in theirs through :func:`tfs_wording`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ovserve.errors import EmptyBinaryItem


@contextmanager
def tfs_wording() -> Iterator[None]:
    """Re-raise an error leaving the block in TF Serving's words (``string_val``, not ``bytes_contents``)."""
    try:
        yield
    except EmptyBinaryItem as exc:
        raise exc.tfs() from None
