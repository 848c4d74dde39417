"""The soak's short variant (bench/soak.py, ``make soak`` runs it for 30 minutes).

Two minutes of mixed REST and gRPC traffic (good requests checked against in-process
OpenVINO, bad requests that must get their 4xx / gRPC status), with load/unload cycles
through the repository API and config.json edits. The server's RSS, open file
descriptors and threads must end flat (medians within 10% of the after-warm-up ones) and
no good, bad or control call may fail. Nothing here depends on how fast the machine is:
a slower machine sends fewer requests, and the verdicts are the same.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import soak  # bench/soak.py, importable once bench/ is on the path


@pytest.mark.timeout(420)
def test_two_minutes_of_mixed_traffic_and_model_churn_end_flat_without_failures(tmp_path: Path) -> None:
    result = soak.run(120, tmp_path / "work")
    summary = soak.report(result, tmp_path / "results", plot=False).read_text()
    counts = result.tally.counts
    assert not result.failed, summary
    assert counts["good ok"] > 0 and counts["bad as expected"] > 0, summary
    assert counts["control load"] > 0 and counts["control config edit"] > 0, summary
    assert result.flat, summary
