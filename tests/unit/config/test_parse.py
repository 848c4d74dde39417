"""OVMS value syntaxes: shapes, dims, batch size, layouts, version policies, plugin config, and more."""

from __future__ import annotations

import logging

import pytest

from ovserve.config.syntax import (
    is_valid_bind_address,
    parse_batch_size,
    parse_dim,
    parse_grpc_channel_arguments,
    parse_layout,
    parse_layout_setting,
    parse_metrics_list,
    parse_plugin_config,
    parse_shape,
    parse_shape_setting,
    parse_version_policy,
)
from ovserve.config.types import LayoutSpec, MetricsConfig, VersionPolicy
from ovserve.errors import ConfigError
from ovserve.tensors import Dim

KEY = "model_config_list[0].config.x"


def check(err: pytest.ExceptionInfo[ConfigError], key: str, *fragments: str) -> None:
    assert err.value.key == key
    for fragment in fragments:
        assert fragment in err.value.problem, (fragment, err.value.problem)
    assert str(err.value) == f"{key}: {err.value.problem}"


# --- shapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(1,3,224,224)", (Dim(1, 1), Dim(3, 3), Dim(224, 224), Dim(224, 224))),
        (" ( 1 , 3 ) ", (Dim(1, 1), Dim(3, 3))),
        ("(-1,3)", (Dim.any(), Dim(3, 3))),
        ("(1:10,0:5,7)", (Dim(1, 10), Dim(0, 5), Dim(7, 7))),
        ("(0)", (Dim(0, 0),)),
        ("auto", "auto"),
        (" auto ", "auto"),
    ],
)
def test_parse_shape_accepts_ovms_syntax(text: str, expected: object) -> None:
    assert parse_shape(text, KEY) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("(1,a)", "only digits"),
        ("1,3", "parentheses"),
        ("()", "parentheses"),
        ("(1,3", "parentheses"),
        ("((1,3))", "one pair"),
        ("(1,,3)", "empty dimension"),
        ("(1,-2)", "-1 (any) or >= 0"),
        ("(1,3-)", "invalid '-'"),
        ("(1,--1)", "invalid '-'"),
        ("(1:2:3)", "one min and one max"),
        ("(:5)", "one min and one max"),
        ("(-1:5)", "higher than or equal 0"),
        ("(5:5)", "max must be higher than min"),
        ("(6:5)", "max must be higher than min"),
        ("(99999999999)", "out of range"),
        ("AUTO", "only digits"),
    ],
)
def test_parse_shape_rejects_with_ovms_text(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_shape(text, KEY)
    check(err, KEY, "The provided shape is in wrong format", fragment, repr(text))


def test_shape_auto_logs_deprecation(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "ovserve.config"):
        parse_shape("auto", KEY)
    assert "deprecated" in caplog.text


def test_shape_setting_anonymous_string_and_empty() -> None:
    assert parse_shape_setting("(1,3)", "--shape") == (Dim(1, 1), Dim(3, 3))
    assert parse_shape_setting("auto", "--shape") == "auto"
    assert parse_shape_setting("", "--shape") is None
    assert parse_shape_setting("   ", "--shape") is None


def test_shape_setting_json_text_and_object_forms() -> None:
    expected = {"in": (Dim(1, 1), Dim(3, 3)), "other": "auto"}
    assert parse_shape_setting('{"in": "(1,3)", "other": "auto"}', "--shape") == expected
    assert parse_shape_setting({"in": [1, 3], "other": "auto"}, KEY) == expected
    assert parse_shape_setting('{"in": [1, 3], "other": "auto"}', "--shape") == expected
    assert parse_shape_setting({"scalar": []}, KEY) == {"scalar": ()}
    assert parse_shape_setting({}, KEY) is None
    assert parse_shape_setting("{}", "--shape") is None


def test_shape_setting_drops_reserved_anonymous_name(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "ovserve.config"):
        assert parse_shape_setting({"ANONYMOUS_INPUT_NAME": "(1)", "b": "(2)"}, KEY) == {"b": (Dim(2, 2),)}
    assert "ANONYMOUS_INPUT_NAME" in caplog.text


@pytest.mark.parametrize(
    ("value", "key", "fragment"),
    [
        ("NCHW", "--shape", "expected (d1,d2,...), auto or a JSON object"),
        ('{"in": "(1,3)"', "--shape", "not valid JSON"),
        ("[1, 3]", "--shape", "expected (d1,d2,...)"),
        ('{"in": 5}', "--shape.in", "expected a string or an array, got integer"),
        (5, KEY, "expected a string or an object, got integer"),
        ({"in": 5}, f"{KEY}.in", "expected a string or an array, got integer"),
        ({"in": [1, -1]}, f"{KEY}.in", "integers >= 0, got -1"),
        ({"in": [1, True]}, f"{KEY}.in", "integers >= 0, got True"),
        ({"in": [1, 2.5]}, f"{KEY}.in", "integers >= 0, got 2.5"),
        ({"in": "(1,x)"}, f"{KEY}.in", "only digits"),
    ],
)
def test_shape_setting_errors_name_the_key(value: object, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_shape_setting(value, "--shape" if key.startswith("--") else KEY)
    check(err, key, "The provided shape is in wrong format", fragment)


# --- dims and batch size ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8", Dim(8, 8)), ("0", Dim(0, 0)), (" -1 ", Dim.any()), ("1:16", Dim(1, 16)), ("2:2", Dim(2, 2))],
)
def test_parse_dim(text: str, expected: Dim) -> None:
    assert parse_dim(text, "--batch_size") == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("0:4", "larger than 0"),
        ("4:2", "max must be higher than or equal to min"),
        ("1:2:3", "two positive numbers"),
        ("-2", "expected a number"),
        ("x", "expected a number"),
        ("1:", "two positive numbers"),
        ("99999999999", "out of range"),
        ("\u00b2", "expected a number"),
        ("1:\u00b2", "two positive numbers"),
    ],
)
def test_parse_dim_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_dim(text, "--batch_size")
    check(err, "--batch_size", "The provided dimension is in wrong format", fragment)


def test_batch_size_forms() -> None:
    assert parse_batch_size("4", KEY) == Dim(4, 4)
    assert parse_batch_size("-1", KEY) == Dim.any()
    assert parse_batch_size("1:8", KEY) == Dim(1, 8)
    assert parse_batch_size("auto", KEY) == "auto"
    assert parse_batch_size(16, KEY) == Dim(16, 16)
    assert parse_batch_size(0, KEY) == Dim(0, 0)
    assert parse_batch_size("", KEY) is None


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (-1, "must be >= 0 when given as a number"),
        (True, "expected an integer >= 0 or a string, got boolean"),
        (1.5, "got number"),
        (None, "got null"),
        ("big", "The provided dimension is in wrong format"),
    ],
)
def test_batch_size_rejects(value: object, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_batch_size(value, KEY)
    check(err, KEY, fragment)


# --- layouts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NHWC:NCHW", LayoutSpec("NHWC", "NCHW")),
        ("nhwc : nchw", LayoutSpec("NHWC", "NCHW")),
        ("NHWC", LayoutSpec("NHWC")),
        ("N...", LayoutSpec("N...")),
        ("...", LayoutSpec("...")),
        ("?", LayoutSpec("?")),
        ("N??C", LayoutSpec("N??C")),
        ("NC...", LayoutSpec("NC...")),
        ("NCDHW", LayoutSpec("NCDHW")),
    ],
)
def test_parse_layout(text: str, expected: LayoutSpec) -> None:
    assert parse_layout(text, "--layout") == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("NHWX", "only the letters"),
        ("NHWC:NCHW:N", "at most one ':'"),
        ("NNC", "letter N appears more than once"),
        ("N..", "'...' must appear at most once"),
        ("N.C..", "'...' must appear at most once"),
        ("......", "'...' must appear at most once"),
        (":NCHW", "empty layout"),
        ("", "empty layout"),
    ],
)
def test_parse_layout_rejects(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_layout(text, "--layout")
    check(err, "--layout", "The provided layout is in wrong format", fragment)


def test_layout_setting_forms() -> None:
    assert parse_layout_setting("NHWC:NCHW", "--layout") == LayoutSpec("NHWC", "NCHW")
    assert parse_layout_setting("", "--layout") is None
    assert parse_layout_setting({}, KEY) is None
    expected = {"in": LayoutSpec("NHWC", "NCHW"), "out": LayoutSpec("N...")}
    assert parse_layout_setting('{"in": "nhwc:nchw", "out": "N..."}', "--layout") == expected
    assert parse_layout_setting({"in": "NHWC:NCHW", "out": "n..."}, KEY) == expected


@pytest.mark.parametrize(
    ("value", "key", "fragment"),
    [
        ('{"in": "NHWC"', "--layout", "not valid JSON"),
        ('{"in": 1}', "--layout.in", "expected a string, got integer"),
        ({"in": "NHWQ"}, "--layout.in", "only the letters"),
        (["NHWC"], "--layout", "expected a string or an object, got array"),
    ],
)
def test_layout_setting_rejects(value: object, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_layout_setting(value, "--layout")
    check(err, key, "The provided layout is in wrong format", fragment)


# --- model version policy -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"latest": {"num_versions": 3}}', VersionPolicy("latest", num_versions=3)),
        ({"latest": {"num_versions": 1}}, VersionPolicy()),
        ('{"all": {}}', VersionPolicy("all")),
        ({"specific": {"versions": [3, 1, 3]}}, VersionPolicy("specific", versions=(1, 3))),
        ({"specific": {"versions": []}}, VersionPolicy("specific", versions=())),
        ("", VersionPolicy()),
    ],
)
def test_version_policy(value: object, expected: VersionPolicy) -> None:
    assert parse_version_policy(value, "--model_version_policy") == expected


@pytest.mark.parametrize(
    ("value", "key", "fragment"),
    [
        ("{latest}", "P", "Model version policy is in wrong format - not valid JSON"),
        ("[1]", "P", "expected an object, got array"),
        ({}, "P", "exactly one of all, latest, specific"),
        ({"all": {}, "latest": {"num_versions": 1}}, "P", "exactly one"),
        ({"newest": {}}, "P.newest", "Model version policy contains unsupported key"),
        ({"all": {"x": 1}}, "P.all", "'all' takes an empty object"),
        ({"all": []}, "P.all", "expected an object, got array"),
        ({"latest": {}}, "P.latest", "'latest' requires 'num_versions'"),
        ({"latest": {"num_versions": 0}}, "P.latest.num_versions", "integer >= 1"),
        ({"latest": {"num_versions": "2"}}, "P.latest.num_versions", "integer >= 1"),
        ({"latest": {"num_versions": 2, "x": 1}}, "P.latest.x", "unknown key"),
        ({"specific": {"versions": 1}}, "P.specific.versions", "array of versions"),
        ({"specific": {"versions": [1, 0]}}, "P.specific.versions", "integers >= 1, got 0"),
        ({"specific": {"versions": [True]}}, "P.specific.versions", "got True"),
        ({"specific": {}}, "P.specific", "'specific' requires 'versions'"),
    ],
)
def test_version_policy_rejects(value: object, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_version_policy(value, "P")
    check(err, key, fragment)


def test_version_policy_selects_versions() -> None:
    assert parse_version_policy({"latest": {"num_versions": 2}}, "P").select([1, 5, 3]) == [5, 3]
    assert parse_version_policy({"specific": {"versions": [1, 4]}}, "P").select([1, 2, 3]) == [1]


# --- plugin config ------------------------------------------------------------------------------


def test_plugin_config_stringifies_values() -> None:
    text = '{"NUM_STREAMS": 2, "PERF_COUNT": true, "X": false, "RATIO": 0.5, "HINT": "LATENCY"}'
    assert parse_plugin_config(text, "--plugin_config") == {
        "NUM_STREAMS": "2",
        "PERF_COUNT": "YES",
        "X": "NO",
        "RATIO": "0.500000",
        "HINT": "LATENCY",
    }
    assert parse_plugin_config({"NUM_STREAMS": "1"}, KEY) == {"NUM_STREAMS": "1"}
    assert parse_plugin_config("", "--plugin_config") == {}


def test_plugin_config_keeps_legacy_keys_for_the_backend() -> None:
    assert parse_plugin_config(
        {"CPU_THROUGHPUT_STREAMS": "CPU_THROUGHPUT_AUTO", "CPU_BIND_THREAD": "NO"}, KEY
    ) == {
        "CPU_THROUGHPUT_STREAMS": "CPU_THROUGHPUT_AUTO",
        "CPU_BIND_THREAD": "NO",
    }


@pytest.mark.parametrize(
    ("value", "key", "fragment"),
    [
        ('{"A": 1', "P", "not valid JSON"),
        ('["A"]', "P", "expected an object, got array"),
        ({"A": None}, "P.A", "values must be strings, booleans or numbers, got null"),
        ({"A": [1]}, "P.A", "got array"),
        ({"A": {"b": 1}}, "P.A", "got object"),
    ],
)
def test_plugin_config_rejects(value: object, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_plugin_config(value, "P")
    check(err, key, "Plugin config is in wrong format", fragment)


# --- metrics, gRPC arguments, bind addresses ----------------------------------------------------


def test_metrics_list_known_families_keep_order_and_drop_duplicates() -> None:
    names = ["ovms_infer_req_active", "ovms_requests_success", "ovms_infer_req_active"]
    assert parse_metrics_list(names, "M") == ("ovms_infer_req_active", "ovms_requests_success")
    assert parse_metrics_list([], "M") == ()


def test_metrics_list_rejects_unknown_family() -> None:
    with pytest.raises(ConfigError) as err:
        parse_metrics_list(["ovms_requests_success", "ovms_bogus"], "M")
    check(err, "M", "Invalid name in metrics_list", "'ovms_bogus'")


def test_metrics_config_families() -> None:
    assert MetricsConfig().families() == ()
    assert "ovms_requests_success" in MetricsConfig(enable=True).families()
    assert "ovms_infer_req_active" not in MetricsConfig(enable=True).families()
    assert MetricsConfig(enable=True, metrics_list=("ovms_streams",)).families() == ("ovms_streams",)


def test_grpc_channel_arguments() -> None:
    parsed = parse_grpc_channel_arguments(" grpc.max_connection_age_ms = 2000 , grpc.lb=round_robin,", "G")
    assert parsed == {"grpc.max_connection_age_ms": 2000, "grpc.lb": "round_robin"}
    assert parse_grpc_channel_arguments("", "G") == {}


def test_grpc_channel_arguments_reject_items_without_one_equals() -> None:
    with pytest.raises(ConfigError) as err:
        parse_grpc_channel_arguments("a=1,b", "G")
    check(err, "G", "wrong format", "'b'")
    with pytest.raises(ConfigError):
        parse_grpc_channel_arguments("a=1=2", "G")


@pytest.mark.parametrize(
    "address", ["0.0.0.0", "127.0.0.1", "255.255.255.255", "localhost", "my-host.example.com", "::", "[::1]"]
)
def test_valid_bind_addresses(address: str) -> None:
    assert is_valid_bind_address(address)


@pytest.mark.parametrize(
    "address", ["", "256.1.1.1", "1.2.3", "01.2.3.4", "-host", "host-", "a..b", "host_name", "::g", "x" * 256]
)
def test_invalid_bind_addresses(address: str) -> None:
    assert not is_valid_bind_address(address)
