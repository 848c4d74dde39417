"""TF Serving's words for the errors that OVMS words after the API's request fields.

The domain errors carry every API's text (:class:`~ovserve.errors.EmptyBinaryItem`: KServe's
by default); the TF Serving front ends pass :func:`tfs_wording` to the request path, which
applies it before the failure is traced and answered.
"""

from __future__ import annotations

from ovserve.errors import EmptyBinaryItem, ServingError


def tfs_wording(error: ServingError) -> ServingError:
    """``error`` in TF Serving's words (``string_val``, not ``bytes_contents``)."""
    return error.tfs() if isinstance(error, EmptyBinaryItem) else error
