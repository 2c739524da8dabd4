"""Hostile input through HTTP (issue 7): hypothesis bodies and schemathesis, in process.

Every request gets a success or a coded 4xx envelope ``{"error": {"code", "message",
"details"}}``: never a 500. Upserts that succeed stored only valid items (checked through
the store behind the service). schemathesis generates requests from ``/openapi.json`` and
checks that none is answered with a server error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err

from nighdb.service import ServiceLimits
from nighdb.wire import encode_segment

from ..service_support import InProcessService
from . import _hostile as h
from .conftest import Figures, soak_mode

CODES = {
    "collection_not_found",
    "collection_conflict",
    "dimension_mismatch",
    "invalid_argument",
    "unauthenticated",
    "permission_denied",
    "payload_too_large",
    "not_found",
    "method_not_allowed",
    "bad_request",
}
LIMITS = ServiceLimits(max_body_bytes=256 * 1024, max_items=50, max_search_limit=100)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    url = f"sqlite:///{tmp_path_factory.mktemp('http-fuzz') / 'store.db'}"
    with InProcessService(url, limits=LIMITS) as svc:
        key = svc.create_key(tenant="fuzz")
        svc.client.headers["Authorization"] = f"Bearer {key}"
        assert svc.client.put("/v1/collections/docs", json={"dimensions": 3}).status_code == 201
        yield svc


def check(response: httpx.Response) -> str:
    assert response.status_code < 500, (
        response.request.method,
        response.request.url,
        response.text,
    )
    if response.status_code >= 400:
        error = response.json()["error"]
        assert error["code"] in CODES and isinstance(error["message"], str), error
        return str(error["code"])
    return "ok"


def _encode(value: Any) -> bytes:
    """JSON as a client would send it, hostile floats included (NaN, Infinity)."""
    try:
        return json.dumps(value, allow_nan=True).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError, RecursionError):  # not JSON: send something deep instead
        return b'{"vector": ' + b"[" * 5000 + b"]" * 5000 + b"}"


ROUTES = [
    ("PUT", ""),
    ("GET", ""),
    ("POST", "/upsert"),
    ("POST", "/search"),
    ("POST", "/search_many"),
    ("POST", "/delete"),
    ("POST", "/fetch"),
    ("GET", "/ids"),
    ("DELETE", ""),
]

bodies = st.one_of(
    st.fixed_dictionaries(
        {
            "items": st.lists(
                st.fixed_dictionaries(
                    {"id": h.ids, "vector": h.vectors, "metadata": h.metadata, "text": h.ids}
                ),
                max_size=3,
            )
            | h.wrong_types
        }
    ),
    st.fixed_dictionaries(
        {
            "vector": h.vectors,
            "limit": h.numbers | h.wrong_types,
            "filter": h.benign_filters | h.filters,
        }
    ),
    st.fixed_dictionaries({"vectors": st.lists(h.vectors, max_size=3) | h.wrong_types}),
    st.fixed_dictionaries({"ids": st.lists(h.ids, max_size=3) | h.wrong_types}),
    st.fixed_dictionaries(
        {"dimensions": h.numbers | h.wrong_types, "embedding_model": h.ids, "metric": h.ids}
    ),
    h.json_values,
)
raw_bodies = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [b"", b"{", b"[]", b"null", b'{"items": [', b"\xff\xfe", b'{"a": 1e999999}', b"{" * 10_000]
    ),
)


def _valid_stored(service: InProcessService) -> None:
    """Everything the service stored is valid: finite vectors, no NUL, JSON objects."""
    store = service.store
    ids = store.list_ids("fuzz", "docs")
    for item in store.fetch("fuzz", "docs", ids):
        assert isinstance(item.id, str) and item.id and "\x00" not in item.id
        assert (
            isinstance(item.vector, np.ndarray)
            and item.vector.shape == (3,)
            and np.isfinite(item.vector).all()
        )
        assert "\x00" not in item.text and isinstance(item.metadata, dict)
        assert "\x00" not in json.dumps(item.metadata)
        assert all(math.isfinite(x) for x in _numbers(item.metadata))


def _numbers(value: Any) -> Iterator[float]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers(v)
    elif isinstance(value, float):
        yield value


def test_hostile_requests(
    service: InProcessService, pytestconfig: pytest.Config, figures: Figures
) -> None:
    outcomes: dict[str, int] = {}
    soak = soak_mode(pytestconfig)

    @settings(
        max_examples=3000 if soak else 200,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not soak,
        database=None,
    )
    @given(
        st.sampled_from(ROUTES),
        st.one_of(st.just("docs"), st.just("missing"), h.ids.filter(lambda n: isinstance(n, str))),
        bodies.map(_encode) | raw_bodies,
        st.sampled_from(
            ["", "?limit=2", "?limit=-1", "?limit=x", "?after=%00", "?limit=99999999999999999999"]
        ),
    )
    def case(route: tuple[str, str], name: str, body: bytes, query: str) -> None:
        method, suffix = route
        if method == "DELETE" and name == "docs":
            name = "dropped"  # keep the collection whose stored items are checked at the end
        try:
            segment = encode_segment(name)
        except Exception:
            segment = "x%ZZ"
        url = f"/v1/collections/{segment}{suffix}{query}"
        if len(url) > 60_000:
            segment = segment[:1000]  # httpx refuses longer URLs before sending
        response = service.client.request(
            method,
            f"/v1/collections/{segment}{suffix}{query}",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        code = check(response)
        outcomes[code] = outcomes.get(code, 0) + 1

    case()
    _valid_stored(service)
    figures.add("cases", sum(outcomes.values()))
    for key, value in outcomes.items():
        figures.add(key, value)
    assert outcomes.get("ok", 0) > 0 and outcomes.get("invalid_argument", 0) > 0


def test_schemathesis_finds_no_server_error(
    tmp_path: Path, pytestconfig: pytest.Config, figures: Figures
) -> None:

    with InProcessService(f"sqlite:///{tmp_path / 'st.db'}", limits=LIMITS) as svc:
        key = svc.create_key(tenant="st")
        headers = {"Authorization": f"Bearer {key}"}
        assert svc.client.put(
            "/v1/collections/docs", json={"dimensions": 3}, headers=headers
        ).is_success
        schema = schemathesis.openapi.from_asgi("/openapi.json", svc.app)
        examples = 300 if soak_mode(pytestconfig) else 25
        count = 0
        failures: list[str] = []

        def runner(op: Any) -> Any:
            @settings(
                max_examples=examples,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=not soak_mode(pytestconfig),
                database=None,
            )
            @given(case=op.as_strategy())
            def run(case: Any) -> None:
                nonlocal count
                if case.path_parameters and "name" in case.path_parameters and count % 2 == 0:
                    case.path_parameters["name"] = "docs"  # half the cases reach real data
                case.headers = {**(case.headers or {}), **headers}
                response = case.call()
                count += 1
                if response.status_code >= 500:
                    shown = response.text[:200]
                    failures.append(
                        f"{op.method.upper()} {op.path}: {response.status_code} {shown}"
                    )

            return run

        for operation in schema.get_all_operations():
            if isinstance(operation, Err):  # the service's own OpenAPI document is invalid
                raise operation.err()
            runner(operation.ok())()
    assert failures == []
    assert count > 0
    figures.add("cases", count)
    figures.add("operations", len(list(schema.get_all_operations())))
