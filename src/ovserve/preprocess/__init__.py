"""Request and response conversions between strings and tensors (OVMS's binary and text inputs).

Depends only on ``ovserve.core``, ``ovserve.config`` and the leaf modules; OpenCV is imported
when the first image arrives. Installed at load time as a wrapper servable
(:func:`~ovserve.preprocess.servable.with_string_conversion`).
"""

from ovserve.preprocess.servable import ConvertingServable, converting, with_string_conversion
from ovserve.preprocess.strings import StringConversion, conversion_for

__all__ = [
    "ConvertingServable",
    "StringConversion",
    "conversion_for",
    "converting",
    "with_string_conversion",
]
