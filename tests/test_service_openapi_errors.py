"""The OpenAPI document names the fair-sharing answers of contract §16 where they can happen.

Every ``/v1`` operation can be refused with 429 ``rate_limited`` (the scheduler admits
every request before it knows the route's work), with a ``Retry-After`` header; 409 is
listed only on the operations that can answer it: ``PUT`` of a collection
(``collection_conflict``, or the collection quota) and upsert (the item quota).
"""

from __future__ import annotations

from typing import Any

from nighdb.service.limits import ServiceLimits
from nighdb.service.schemas import openapi_document

_CAN_CONFLICT = {"put_collection", "upsert"}


def _v1_operations() -> list[tuple[str, str, dict[str, Any]]]:
    document = openapi_document(ServiceLimits())
    found = []
    for path, methods in document["paths"].items():
        if path.startswith("/v1"):
            found += [(path, method, op) for method, op in methods.items()]
    return found


def test_every_v1_operation_lists_429_with_retry_after() -> None:
    operations = _v1_operations()
    assert len(operations) > 20  # both route families, every route
    for path, method, op in operations:
        refused = op["responses"].get("429")
        assert refused is not None, (method, path)
        assert "rate_limited" in refused["description"]
        assert refused["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
        assert refused["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_409_is_listed_exactly_where_a_conflict_or_quota_can_answer() -> None:
    with_409 = set()
    for path, method, op in _v1_operations():
        name = op["operationId"].removesuffix("_for_tenant")
        conflict = op["responses"].get("409")
        if conflict is not None:
            with_409.add(name)
            assert "quota_exceeded" in conflict["description"], (method, path)
    assert with_409 == _CAN_CONFLICT
    by_name = {op["operationId"]: op for _, _, op in _v1_operations()}
    assert "collection_conflict" in by_name["put_collection"]["responses"]["409"]["description"]
