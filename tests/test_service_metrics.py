"""``/metrics``: Prometheus text with per-template request counts, latencies and error codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .service_support import InProcessService


@pytest.fixture
def service(tmp_path: Path) -> Iterator[InProcessService]:
    with InProcessService(f"sqlite:///{tmp_path / 'store.db'}") as svc:
        yield svc


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_metrics_count_requests_per_route_template_and_errors_per_code(
    service: InProcessService,
) -> None:
    client = service.client
    key = service.create_key(tenant="secret-tenant")
    h = {"Authorization": f"Bearer {key}"}
    client.put("/v1/collections/secret-name", json={"dimensions": 2}, headers=h)
    for _ in range(3):
        client.post("/v1/collections/secret-name/search", json={"vector": [1, 0]}, headers=h)
    client.post("/v1/collections/secret-name/search", json={"vector": [1]}, headers=h)
    client.get("/v1/collections/other-secret", headers=h)
    client.get("/v1/collections")  # no key
    client.get("/no/such/route/secret-path")

    response = client.get("/metrics")  # no key needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    # Names and tenants never become label values: the cardinality stays bounded.
    assert "secret" not in text
    got = samples(text)

    def requests(method: str, route: str, status: str) -> float:
        labels = frozenset({"method": method, "route": route, "status": status}.items())
        return got[("nigh_http_requests_total", labels)]

    search = "/v1/collections/{name}/search"
    assert requests("POST", search, "200") == 3
    assert requests("POST", search, "400") == 1
    assert requests("PUT", "/v1/collections/{name}", "201") == 1
    assert requests("GET", "/v1/collections/{name}", "404") == 1
    assert requests("GET", "/v1/collections", "401") == 1
    assert requests("GET", "unmatched", "404") == 1

    latency = frozenset({"method": "POST", "route": search}.items())
    assert got[("nigh_http_request_duration_seconds_count", latency)] == 4
    assert got[("nigh_http_request_duration_seconds_sum", latency)] > 0

    def errors(code: str) -> float:
        return got[("nigh_errors_total", frozenset({"code": code}.items()))]

    assert errors("dimension_mismatch") == 1
    assert errors("collection_not_found") == 1
    assert errors("unauthenticated") == 1
    assert errors("not_found") == 1


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    with (
        InProcessService(f"sqlite:///{tmp_path / 'a.db'}") as one,
        InProcessService(f"sqlite:///{tmp_path / 'b.db'}") as two,
    ):
        one.client.get("/healthz")
        one.client.get("/healthz")
        two.client.get("/healthz")
        healthz = frozenset({"method": "GET", "route": "/healthz", "status": "200"}.items())
        assert samples(one.client.get("/metrics").text)[("nigh_http_requests_total", healthz)] == 2
        assert samples(two.client.get("/metrics").text)[("nigh_http_requests_total", healthz)] == 1


def test_unknown_methods_share_one_label(service: InProcessService) -> None:
    for method in ("BREW", "WHEN", "PROPFIND"):
        service.client.request(method, "/healthz")
    text = service.client.get("/metrics").text
    assert 'method="OTHER"' in text and "BREW" not in text
