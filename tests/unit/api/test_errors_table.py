import grpc

from ovserve.api.errors import GRPC_STATUS, HTTP_STATUS, as_serving_error
from ovserve.errors import Code, InvalidInput, ModelNotFound, ModelNotReady, ServingError


def test_every_code_has_an_http_and_a_grpc_status() -> None:
    assert set(HTTP_STATUS) == set(Code)
    assert set(GRPC_STATUS) == set(Code)
    for code in Code:
        assert GRPC_STATUS[code].name == code.name


def test_domain_errors_map_like_ovms() -> None:
    assert HTTP_STATUS[InvalidInput("x").code] == 400
    assert HTTP_STATUS[ModelNotFound("m").code] == 404
    assert HTTP_STATUS[ModelNotReady("m", 1).code] == 404
    assert GRPC_STATUS[ModelNotReady("m", 1).code] == grpc.StatusCode.UNAVAILABLE


def test_unknown_exceptions_become_internal_without_detail() -> None:
    error = as_serving_error(KeyError("secret detail"))
    assert error.code == Code.INTERNAL
    assert "secret" not in error.message
    same = ServingError("x", Code.ABORTED)
    assert as_serving_error(same) is same
