"""``erase --request-key``: a data subject's predictions leave every place the log keeps them
(live and sealed segments, compacted Parquet, id indexes) with their labels; the erasure is
audited without the key."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app as cli
from modelyard.errors import NotFound

from .conftest import ServerFactory, rows

SUBJECT = "subject-7f3a"


def _predict(url: str, key: str, n: int = 2) -> list[str]:
    r = httpx.post(f"{url}/predict/loans", json={"records": rows(n), "request_key": key})
    assert r.status_code == 200, r.text
    return list(r.json()["ids"])


def _parquet_rows(yard: my.Yard) -> list[dict[str, Any]]:
    root = Path(yard.settings.resolved_artifacts_url) / "predlog"
    out = []
    for f in sorted(root.rglob("*.parquet")):
        if "/_ids/" not in str(f):
            out += pq.read_table(f, columns=["id", "request_key"]).to_pylist()
    return out


def _index_ids(yard: my.Yard) -> set[str]:
    root = Path(yard.settings.resolved_artifacts_url) / "predlog" / "_ids"
    return {i for f in root.rglob("*.parquet") for i in pq.read_table(f)["id"].to_pylist()}


def test_erase_over_the_api_removes_every_copy_and_audits_without_the_key(
        loans_server: ServerFactory, loans_yard: my.Yard, server_factory: Callable[..., Any],
        ) -> None:
    with loans_server() as url:  # compacted into Parquet when it stops
        old = _predict(url, SUBJECT, 3)
        others = _predict(url, "someone-else", 2)
    for pid in old[:2] + others:
        loans_yard.feedback(pid, 1)
    with loans_server() as url:  # and these stay in its live, open segment
        live = _predict(url, SUBJECT, 2)
        live_other = _predict(url, "someone-else", 1)
        api = server_factory(loans_yard, auth=True)
        reader = loans_yard.backend.auth.create("reader-1", "reader")
        refused = httpx.post(f"{api.url}/api/v1/predictions/erase",
                             json={"request_key": SUBJECT},
                             headers={"Authorization": f"Bearer {reader}"})
        assert refused.status_code == 403, refused.text
        r = httpx.post(f"{api.url}/api/v1/predictions/erase", json={"request_key": SUBJECT},
                       headers={"Authorization": f"Bearer {api.token}"})
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["predictions"] == 5 and result["pending"] == 2
        assert result["labels"] == 2 and result["endpoints"] == ["loans"]
        for pid in old + live:  # hidden at once, the live segment's too
            missing = httpx.get(f"{api.url}/api/v1/predictions/{pid}",
                                headers={"Authorization": f"Bearer {api.token}"})
            assert missing.status_code == 404, missing.text
        assert loans_yard.predictions.get(live_other[0]).request_key == "someone-else"
        wal = loans_yard.settings.resolved_prediction_log_dir / "wal"
        assert list(wal.glob("*.erased"))  # the ids (never the key) wait for the compaction
        assert SUBJECT.encode() not in b"".join(f.read_bytes() for f in wal.glob("*.erased"))
    # the server compacted its live segment: the erased records never reached Parquet
    assert not list(wal.glob("*.erased"))
    logged = _parquet_rows(loans_yard)
    assert {r["request_key"] for r in logged} == {"someone-else"}
    assert {r["id"] for r in logged} == set(others + live_other)
    assert not (set(old + live) & _index_ids(loans_yard))
    assert set(others) <= _index_ids(loans_yard)
    for pid in old + live:
        with pytest.raises(NotFound):
            loans_yard.predictions.get(pid)
    for pid in others:
        assert loans_yard.monitoring.get_feedback(pid).label == 1
    with pytest.raises(NotFound):
        loans_yard.monitoring.get_feedback(old[0])
    [record] = loans_yard.backend.audit.records(action="predictions.erase")
    assert record.actor.startswith("admin-") and record.target == "predictions:loans"
    assert record.state()["predictions"] == 5 and record.state()["labels"] == 2
    assert SUBJECT not in record.model_dump_json()


def test_erase_rewrites_sealed_segments_and_the_cli_says_what_it_did(
        loans_server: ServerFactory, loans_yard: my.Yard, tmp_path: Path) -> None:
    from modelyard.wal.segments import list_segments, read_segment, wal_dir

    kept = loans_yard.predictions.log(
        [{"endpoint": "loans", "route": "main", "model_name": "loans", "model_version": 1,
          "inputs": {"age": 40.0}, "outputs": {"prediction": 0}, "request_key": k}
         for k in (SUBJECT, "other", SUBJECT)], compact_now=False)
    wal = wal_dir(loans_yard.settings.resolved_prediction_log_dir)
    [seg] = list_segments(wal)
    assert seg.sealed
    home = str(loans_yard.settings.home)
    out = CliRunner().invoke(cli, ["--home", home, "erase", "--request-key", SUBJECT, "--yes"])
    assert out.exit_code == 0, out.output
    assert "erased 2 predictions" in out.output and "1 segments rewritten" in out.output
    assert [r["id"] for r in read_segment(seg.path)] == [kept[1]]
    assert SUBJECT.encode() not in seg.path.read_bytes()
    assert loans_yard.predictions.get(kept[1]).request_key == "other"
    again = CliRunner().invoke(cli, ["--home", home, "erase", "--request-key", SUBJECT, "-y",
                                     "--json"])
    assert again.exit_code == 0 and '"predictions": 0' in again.output


def test_a_bad_request_key_is_refused_naming_it(loans_yard: my.Yard) -> None:
    from modelyard.errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="request_key must be a non-empty string"):
        loans_yard.predictions.erase(request_key="")
