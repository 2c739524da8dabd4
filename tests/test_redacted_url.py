"""``redacted_url``: what the CLI, the service's start-up line and a store's repr show of a URL."""

from __future__ import annotations

import pytest

from nighdb.store import redacted_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/vectors", "postgresql://***@db:5432/vectors"),
        ("http://nigh_abc_secret@host:8080", "http://***@host:8080"),
        ("postgresql://db/v?password=s3cret&sslmode=require", "postgresql://db/v?sslmode=require"),
        (
            "postgresql://db/v?PassFile=/x&application_name=a",
            "postgresql://db/v?application_name=a",
        ),
        # Nothing secret: returned exactly as given, odd forms included.
        ("sqlite:////abs/path.db", "sqlite:////abs/path.db"),
        ("relative/path.db", "relative/path.db"),
        ("postgresql:///postgres?host=/tmp/pg/data", "postgresql:///postgres?host=/tmp/pg/data"),
    ],
)
def test_secrets_never_show(url: str, shown: str) -> None:
    assert redacted_url(url) == shown
    assert "s3cret" not in redacted_url(url)
