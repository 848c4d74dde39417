"""Request and response conversions between strings and tensors (OVMS's binary and text inputs).

Depends only on ``ovserve.core`` and the leaf modules; OpenCV is imported when the first
image arrives. The front ends' one request path applies it (``ovserve.api.request_path``).
"""

from ovserve.preprocess.strings import (
    BYTES_CONTENTS_EMPTY,
    STRING_VAL_EMPTY,
    StringConversion,
    conversion_for,
)

__all__ = ["BYTES_CONTENTS_EMPTY", "STRING_VAL_EMPTY", "StringConversion", "conversion_for"]
