"""Adding up the expositions of several workers."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from ovserve.metrics.merge import merge_expositions

A = """# HELP ovms_requests_success Number of successful requests to a model or a DAG.
# TYPE ovms_requests_success counter
ovms_requests_success{api="KServe",name="m",version="1"} 3
# HELP ovms_request_time_us Processing time of requests to a model or a DAG.
# TYPE ovms_request_time_us histogram
ovms_request_time_us_bucket{name="m",le="10"} 1
ovms_request_time_us_bucket{name="m",le="+Inf"} 3
ovms_request_time_us_sum{name="m"} 42
ovms_request_time_us_count{name="m"} 3
"""

B = """# HELP ovms_requests_success Number of successful requests to a model or a DAG.
# TYPE ovms_requests_success counter
ovms_requests_success{api="KServe",name="m",version="1"} 4
ovms_requests_success{api="KServe",name="n",version="1"} 1
# HELP ovms_current_requests Number of inference requests currently in process.
# TYPE ovms_current_requests gauge
ovms_current_requests{name="m",version="1"} 2
# HELP ovms_request_time_us Processing time of requests to a model or a DAG.
# TYPE ovms_request_time_us histogram
ovms_request_time_us_bucket{name="m",le="10"} 0
ovms_request_time_us_bucket{name="m",le="+Inf"} 2
ovms_request_time_us_sum{name="m"} 100
ovms_request_time_us_count{name="m"} 2
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_every_sample_is_the_sum_over_workers_and_families_stay_whole() -> None:
    merged = merge_expositions([A, B])
    got = samples(merged)
    assert got[("ovms_requests_success_total", (("api", "KServe"), ("name", "m"), ("version", "1")))] == 7
    assert got[("ovms_requests_success_total", (("api", "KServe"), ("name", "n"), ("version", "1")))] == 1
    assert got[("ovms_current_requests", (("name", "m"), ("version", "1")))] == 2
    assert got[("ovms_request_time_us_bucket", (("le", "+Inf"), ("name", "m")))] == 5
    assert got[("ovms_request_time_us_sum", (("name", "m"),))] == 142
    # one HELP/TYPE pair per family, each family's samples right under it
    lines = merged.splitlines()
    assert lines.count("# TYPE ovms_requests_success counter") == 1
    start = lines.index("# TYPE ovms_requests_success counter")
    assert lines[start + 1].startswith("ovms_requests_success{") and lines[start + 2].startswith(
        "ovms_requests_success{"
    )


def test_one_worker_merges_to_itself_and_none_to_nothing() -> None:
    assert samples(merge_expositions([A])) == samples(A)
    assert merge_expositions([]) == ""
    assert merge_expositions(["", ""]) == ""
