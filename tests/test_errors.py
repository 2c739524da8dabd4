"""The error tree itself (contract §7): registry, details, pickle/copy, the wire round trip."""

from __future__ import annotations

import copy
import inspect
import json
import pickle
from collections.abc import Callable

import pytest

import nighdb
from nighdb import errors
from nighdb.errors import (
    CollectionConflictError,
    CollectionNotFoundError,
    Detail,
    DimensionMismatchError,
    InvalidArgumentError,
    NighError,
    PayloadTooLargeError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitedError,
    StoreUnavailableError,
    UnauthenticatedError,
    from_wire,
    lookup,
)
from nighdb.transfer import prefixed
from nighdb.wire import dumps, error_body, error_from_response

# One example per class, built as the code raises it; messages given and defaulted.
EXAMPLES: list[NighError] = [
    NighError("something unexpected"),
    CollectionNotFoundError("acme", "docs"),
    CollectionNotFoundError("acme", "docs", "custom message"),
    CollectionConflictError("docs", "embedding_model", "model-a", "model-b"),
    DimensionMismatchError("docs", 3, 2),
    DimensionMismatchError("docs", 3, 2, "line 4: a 2-dimensional vector"),
    InvalidArgumentError("limit must be positive"),
    InvalidArgumentError("limit must be positive", "line 7: limit must be positive"),
    UnauthenticatedError(),
    UnauthenticatedError("the API key is unknown or revoked"),
    PermissionDeniedError(),
    StoreUnavailableError(),
    StoreUnavailableError("the database is locked; retry later"),
    PayloadTooLargeError(),
    RateLimitedError(),
    RateLimitedError(7, "tenant 'acme' is over its 20 requests per second"),
    QuotaExceededError("acme", "collections", 100),
]

IDS = [f"{type(e).__name__}-{i}" for i, e in enumerate(EXAMPLES)]


def public_classes() -> set[type[NighError]]:
    return {
        cls
        for name in errors.__all__
        if inspect.isclass(cls := getattr(errors, name)) and issubclass(cls, NighError)
    }


def same(a: NighError, b: NighError) -> None:
    """``a`` and ``b`` are equal errors: same class, message, details, text and attributes."""
    assert type(a) is type(b)
    assert a.message == b.message
    assert str(a) == str(b)
    assert a.args == b.args == (a.message,)
    assert dict(a.details) == dict(b.details)
    for field in type(a).detail_fields:
        assert getattr(a, field.name) == getattr(b, field.name)


def test_examples_cover_every_class() -> None:
    assert {type(e) for e in EXAMPLES} == public_classes()


def test_each_class_registers_its_code_and_status_once() -> None:
    table: dict[type[NighError], tuple[str, int, bool]] = {
        CollectionNotFoundError: ("collection_not_found", 404, False),
        CollectionConflictError: ("collection_conflict", 409, False),
        DimensionMismatchError: ("dimension_mismatch", 400, False),
        InvalidArgumentError: ("invalid_argument", 400, False),
        UnauthenticatedError: ("unauthenticated", 401, False),
        PermissionDeniedError: ("permission_denied", 403, False),
        StoreUnavailableError: ("unavailable", 503, True),
        PayloadTooLargeError: ("payload_too_large", 413, False),
        RateLimitedError: ("rate_limited", 429, True),
        QuotaExceededError: ("quota_exceeded", 409, False),
    }
    assert set(table) | {NighError} == public_classes()
    for cls, (code, status, retryable) in table.items():
        assert (cls.code, cls.http_status, cls.retryable) == (code, status, retryable)
        assert lookup(code) is cls
    assert (NighError.code, NighError.http_status, NighError.retryable) == ("internal", 500, False)
    assert lookup("internal") is NighError
    assert lookup("no_such_code") is NighError


def test_a_new_class_registers_itself_and_round_trips() -> None:
    class QuotaProbeError(NighError, code="quota_probe_test", http_status=409, retryable=True):
        tenant = Detail(str)
        limit = Detail(int)

        def __init__(self, tenant: str, limit: int) -> None:
            message = f"tenant {tenant!r} is at its limit of {limit}"
            super().__init__(message, {"tenant": tenant, "limit": limit})

    try:
        assert lookup("quota_probe_test") is QuotaProbeError
        err = QuotaProbeError("acme", 5)
        assert (err.code, err.http_status, err.retryable) == ("quota_probe_test", 409, True)
        assert (err.tenant, err.limit) == ("acme", 5)
        back = from_wire(err.code, err.message, json.loads(dumps(err.details)))
        same(err, back)
    finally:
        errors._REGISTRY.pop("quota_probe_test", None)


@pytest.mark.parametrize(
    "declare",
    [
        lambda: type("Dup", (NighError,), {}, code="invalid_argument", http_status=400),
        lambda: type("Root", (NighError,), {}, code="internal", http_status=500),
        lambda: type("NoStatus", (NighError,), {}, code="brand_new_code"),
        lambda: type("NoCode", (NighError,), {}, http_status=418),
    ],
    ids=["taken-code", "root-code", "code-without-status", "status-without-code"],
)
def test_a_class_declaration_that_would_break_the_registry_is_refused(
    declare: Callable[[], type],
) -> None:
    before = dict(errors._REGISTRY)
    with pytest.raises(TypeError):
        declare()
    assert before == errors._REGISTRY


def test_an_intermediate_class_shares_its_parents_code_without_taking_it() -> None:
    class NarrowerError(InvalidArgumentError):
        pass

    err = NarrowerError("why")
    assert (err.code, err.http_status, err.reason) == ("invalid_argument", 400, "why")
    assert lookup("invalid_argument") is InvalidArgumentError


def test_attributes_read_the_details_mapping() -> None:
    err = CollectionConflictError("docs", "metric", "cosine", "l2")
    assert dict(err.details) == {
        "collection": "docs",
        "field": "metric",
        "existing": "cosine",
        "requested": "l2",
    }
    assert (err.collection, err.field, err.existing, err.requested) == (
        "docs",
        "metric",
        "cosine",
        "l2",
    )
    assert [f.name for f in CollectionConflictError.detail_fields] == [
        "collection",
        "field",
        "existing",
        "requested",
    ]
    assert dict(DimensionMismatchError("d", 4, 1).details) == {
        "collection": "d",
        "expected": 4,
        "got": 1,
    }
    assert dict(InvalidArgumentError("bad").details) == {"reason": "bad"}
    assert dict(UnauthenticatedError().details) == {}


def test_attributes_are_read_only() -> None:
    err = DimensionMismatchError("docs", 3, 2)
    with pytest.raises(AttributeError, match="read-only"):
        err.expected = 4  # type: ignore[assignment]  # mypy refuses it too
    assert err.expected == 3 and err.details["expected"] == 3


def test_a_missing_detail_is_an_attribute_error() -> None:
    class HalfBuiltError(DimensionMismatchError):
        def __init__(self) -> None:
            NighError.__init__(self, "built without its details")

    err = HalfBuiltError()
    assert not hasattr(err, "expected")
    assert getattr(err, "got", None) is None


@pytest.mark.parametrize("err", EXAMPLES, ids=IDS)
def test_every_error_pickles(err: NighError) -> None:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        same(err, pickle.loads(pickle.dumps(err, protocol)))


@pytest.mark.parametrize("err", EXAMPLES, ids=IDS)
def test_every_error_copies(err: NighError) -> None:
    for clone in (copy.copy(err), copy.deepcopy(err)):
        same(err, clone)
        assert clone is not err and clone.details is not err.details


def test_pickle_keeps_other_instance_state() -> None:
    err = InvalidArgumentError("bad id")
    vars(err)["__notes__"] = ["while importing line 3"]  # what add_note (3.11+) does
    back = pickle.loads(pickle.dumps(err))
    same(err, back)
    assert vars(back)["__notes__"] == ["while importing line 3"]


@pytest.mark.parametrize("err", EXAMPLES, ids=IDS)
def test_every_error_crosses_the_wire_as_itself(err: NighError) -> None:
    content = dumps(error_body(err.code, err.message, err.details))
    same(err, error_from_response(err.http_status, content))


def test_from_wire_gives_every_detail_its_type() -> None:
    err = from_wire("dimension_mismatch", "odd service", {"expected": "3", "extra": [1]})
    assert isinstance(err, DimensionMismatchError)
    assert (err.collection, err.expected, err.got) == ("", 3, 0)
    assert err.details["extra"] == [1]  # unknown details are kept, not dropped
    unknown = from_wire("not_found", "no route", {})
    assert type(unknown) is NighError and unknown.message == "no route"


@pytest.mark.parametrize("err", EXAMPLES, ids=IDS)
def test_with_message_keeps_class_and_details(err: NighError) -> None:
    reworded = err.with_message("elsewhere: " + err.message)
    assert type(reworded) is type(err)
    assert reworded.message == str(reworded) == "elsewhere: " + err.message
    assert reworded.args == (reworded.message,)
    assert dict(reworded.details) == dict(err.details)
    assert err.message != reworded.message  # the original is untouched


@pytest.mark.parametrize("err", EXAMPLES, ids=IDS)
def test_prefixed_names_where_and_keeps_the_error(err: NighError) -> None:
    named = prefixed(err, "pack packs/faq.toml")
    assert type(named) is type(err)
    assert named.message == f"pack packs/faq.toml: {err.message}" == str(named)
    assert dict(named.details) == dict(err.details)


def test_error_body_is_the_envelope() -> None:
    err = CollectionNotFoundError("acme", "docs")
    assert error_body(err.code, err.message, err.details) == {
        "error": {
            "code": "collection_not_found",
            "message": err.message,
            "details": {"tenant": "acme", "collection": "docs"},
        }
    }
    assert error_body("not_found", "no route") == {
        "error": {"code": "not_found", "message": "no route", "details": {}}
    }


def test_the_package_exports_the_tree() -> None:
    for cls in public_classes():
        assert getattr(nighdb, cls.__name__) is cls
