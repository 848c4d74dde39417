"""KServe v2 REST driven by tritonclient.http: every catalog datatype, JSON and binary, compared with OpenVINO."""

from __future__ import annotations

from collections.abc Iterator
