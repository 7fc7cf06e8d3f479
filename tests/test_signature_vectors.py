"""Our signature check agrees with every vector in ../shared/reference/signature_vectors.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.datastructures import MultiDict

from receiver import signature

# the reference material sits beside the repository: ../shared/reference (CI clones next to it too)
VECTORS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "signature_vectors.json"
ALL = json.loads(VECTORS.read_text())["vectors"]


def _params(raw: Any) -> MultiDict[str, str]:
    md: MultiDict[str, str] = MultiDict()
    for key, value in raw.items():
        for item in value if isinstance(value, list) else [value]:
            md.add(key, item)
    return md


def _check(vector: dict[str, Any], sig: str, token: str | None = None) -> signature.Verdict:
    url = urlsplit(vector["url"])
    body = None
    params: Any = _params(vector["params"])
    note = vector.get("note", "")
    if "body=" in note:  # JSON vectors: signature over the URL only; body hash in the URL
        body = note.split("body=", 1)[1].split(" ;", 1)[0].encode()
    return signature.validate(
        auth_token=token or vector["auth_token"],
        public_base=f"{url.scheme}://{url.netloc}",
        local_base="http://127.0.0.1:8080",
        path=url.path,
        query=url.query,
        params=params,
        signature=sig,
        raw_body=body,
    )


def test_there_are_eighteen_vectors() -> None:
    assert len(ALL) == 18


@pytest.mark.parametrize("vector", ALL, ids=[v["name"] for v in ALL])
def test_vector_validates(vector: dict[str, Any]) -> None:
    verdict = _check(vector, vector["expected_signature"])
    assert verdict.ok, verdict.reason


@pytest.mark.parametrize("vector", ALL, ids=[v["name"] for v in ALL])
def test_vector_with_wrong_token_fails(vector: dict[str, Any]) -> None:
    assert not _check(vector, vector["expected_signature"], token="not-the-token").ok


@pytest.mark.parametrize("vector", ALL, ids=[v["name"] for v in ALL])
def test_vector_with_tampered_signature_fails(vector: dict[str, Any]) -> None:
    sig = vector["expected_signature"]
    tampered = ("A" if sig[0] != "A" else "B") + sig[1:]
    assert not _check(vector, tampered).ok


def test_reordered_query_fails() -> None:
    v = ALL[0]
    url = urlsplit(v["url"])
    verdict = signature.validate(
        auth_token=v["auth_token"],
        public_base=f"{url.scheme}://{url.netloc}",
        local_base="http://x",
        path=url.path,
        query="bar=2&foo=1",
        params=_params(v["params"]),
        signature=v["expected_signature"],
    )
    assert not verdict.ok


def test_json_body_hash_mismatch_is_explained() -> None:
    verdict = signature.validate(
        auth_token="12345",
        public_base="https://mycompany.com",
        local_base="http://x",
        path="/myapp.php",
        query="bodySHA256=" + "0" * 64,
        params='{"a": 1}',
        signature="x",
        raw_body=b'{"a": 1}',
    )
    assert not verdict.ok and "bodySHA256" in verdict.reason
