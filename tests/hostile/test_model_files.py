"""Model files that are not what the registry says: a blob whose bytes no longer hash to its
digest, and a pickle registered where a skops file is expected. Both are refused on load —
by the SDK and by a model server, which stays up and says why."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelyard as my
from modelyard.errors import IntegrityError, ModelyardError
from modelyard.registry.entities import Manifest
from modelyard.serving.app import create_app
from modelyard.serving.endpoints import endpoint_from_ref
from modelyard.serving.options import ServerOptions
from modelyard.serving.testing import serve_in_thread, wait_ready

from .conftest import HTTP, assert_refused


class _Payload:
    """Unpickling this would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (str(self.marker), "pwned"))  # type: ignore[return-value]


def _serve(yard: my.Yard, ref: str) -> Iterator[str]:
    app = create_app(yard, [endpoint_from_ref(f"m={ref}")], ServerOptions(poll_interval=0.2))
    with serve_in_thread(app, ready=False) as url:
        yield url


def _refused_by_server(yard: my.Yard, ref: str, *words: str) -> None:
    """``ref`` fails to load on a model server whose readiness names one of ``words``."""
    for url in _serve(yard, ref):
        with pytest.raises(TimeoutError):
            wait_ready(url, timeout=5)
        ready = HTTP.get(f"{url}/readyz").json()
        problem = str(ready["problems"]).lower()
        assert any(w.lower() in problem for w in words), ready
        r = HTTP.post(f"{url}/predict/m", json={"records": [{"income": 1.0, "age": 1.0}]})
        assert_refused(r, 503)
        assert HTTP.get(f"{url}/healthz").status_code == 200


def test_a_model_blob_that_does_not_match_its_digest_is_refused(hostile_yard: my.Yard) -> None:
    mv = hostile_yard.models.get("loans/1")
    main = mv.options.get("file", min(mv.files))
    blob = Path(hostile_yard.backend.blobs.blob_path(mv.files[main]))
    blob.write_bytes(blob.read_bytes()[:-1] + b"!")
    with pytest.raises(IntegrityError, match="corrupt"):
        hostile_yard.models.load("loans/1")
    # the corrupt blob was set aside when it was found: the server cannot get it either
    _refused_by_server(hostile_yard, "loans/1", "corrupt", "no blob with digest")


def test_a_pickle_where_a_skops_file_is_expected_is_refused_unopened(
        hostile_yard: my.Yard, tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "model.skops"
    evil.write_bytes(pickle.dumps(_Payload(marker)))
    digest = hostile_yard.backend.blobs.put_file(evil)
    hostile_yard.backend.registry.create_model_version(
        name="evil", manifest=Manifest(flavor="sklearn", options={"file": "model.skops"},
                                       files={"model.skops": digest}))
    with pytest.raises(ModelyardError, match="skops"):
        hostile_yard.models.load("evil/1")
    _refused_by_server(hostile_yard, "evil/1", "skops")
    assert not marker.exists()
