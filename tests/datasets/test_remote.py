"""The same SDK over HTTP: fragments travel as verified blobs, the manifest through the API."""

from __future__ import annotations

import pandas as pd
import pytest

import modelyard as my
from modelyard.errors import NotFound, SchemaMismatch


def test_add_append_read_over_http(remote_yard: my.Yard, make_loans) -> None:
    jan = make_loans(100)
    v1 = remote_yard.datasets.add("loans", jan, time_column="ts")
    feb = make_loans(50, seed=1, start="2026-02-01")
    v2 = remote_yard.datasets.append("loans", feb)
    assert (v1.version, v2.version, v2.n_rows) == (1, 2, 150)
    got = remote_yard.datasets.get("loans").to_pandas()
    pd.testing.assert_frame_equal(got, pd.concat([jan, feb], ignore_index=True), check_dtype=False)
    assert remote_yard.datasets.window("loans", "2026-02-01", "2026-03-01").count() == 50
    assert remote_yard.datasets.as_of("loans", v1.created_at).version == 1
    assert remote_yard.datasets.profile("loans")["amount"].count == 150
    assert remote_yard.datasets.get("loans", version=1).profile.n_rows == 100
    remote_yard.datasets.describe("loans", "amount", unit="EUR")
    assert remote_yard.datasets.dictionary("loans")[1].unit == "EUR"
    assert [d.name for d in remote_yard.datasets.list()] == ["loans"]
    with pytest.raises(SchemaMismatch, match="'term': missing"):
        remote_yard.datasets.append("loans", feb.drop(columns=["term"]))
    with pytest.raises(NotFound):
        remote_yard.datasets.get("loans", version=9)


def test_a_dataset_larger_than_the_request_limit_uploads_in_streamed_fragments(
    local_yard: my.Yard, server_factory, tmp_path, monkeypatch
) -> None:
    """The request limit (256 KB here) bounds the manifest, not the fragments: a file of several
    fragments each over it goes up as streamed blobs, with byte progress for the read and the
    upload, over real HTTP and from the CLI."""
    import contextlib

    import numpy as np
    from typer.testing import CliRunner

    from modelyard.cli.main import app

    local_yard.settings = local_yard.settings.model_copy(update={"max_request_bytes": 256_000})
    server = server_factory(local_yard)
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.random(20_000) for i in range(13)})
    path = tmp_path / "big.parquet"
    frame.to_parquet(path, compression="none")
    seen: dict[str, list[int | None]] = {}

    @contextlib.contextmanager
    def progress(description: str, total: int | None):
        seen[description.split()[0]] = [total, 0]

        def advance(n: int) -> None:
            seen[description.split()[0]][1] += n

        yield advance

    client = my.connect(server.url, settings=my.Settings.load({}, home=tmp_path / "client"))
    from modelyard.datasets import snapshot

    monkeypatch.setattr(snapshot, "FRAGMENT_ROWS", 10_240)  # two fragments of ~1 MB each
    monkeypatch.setattr(snapshot, "ROW_GROUP_ROWS", 2_048)
    try:
        dv = client.datasets.add("big", str(path), progress=progress)
        assert dv.n_rows == 20_000 and len(dv.fragments) == 2
        assert all(f.n_bytes > 256_000 for f in dv.fragments)
        assert seen["read"] == [path.stat().st_size, path.stat().st_size]
        assert seen["upload"] == [dv.n_bytes, dv.n_bytes]
        pd.testing.assert_frame_equal(client.datasets.get("big").to_pandas(), frame)
    finally:
        client.close()
    result = CliRunner().invoke(app, ["--remote", server.url, "datasets", "add", "big2",
                                      str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("big2/1") and "20,000 rows" in result.output
