"""``modelyard predictions …``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import modelyard as my
from modelyard.cli.main import app as cli


def _log(yard: my.Yard) -> list[str]:
    return yard.predictions.log(
        [{"endpoint": "loans", "route": "main", "model_name": "loans", "model_version": 2,
          "inputs": {"age": 30 + i}, "outputs": {"prediction": i % 2}} for i in range(3)],
        compact_now=False)


def test_predictions_compact_get_and_query(local_yard: my.Yard, tmp_path: Path) -> None:
    ids = _log(local_yard)
    home = str(local_yard.settings.home)
    runner = CliRunner()
    r = runner.invoke(cli, ["predictions", "compact", "--home", home])
    assert r.exit_code == 0, r.output
    assert "compacted 1 segments, 3 predictions" in r.output
    r = runner.invoke(cli, ["predictions", "get", ids[1], "--home", home])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["inputs"] == {"age": 31}
    out = tmp_path / "q.csv"
    r = runner.invoke(cli, ["predictions", "query", "loans", "--start", "2000-01-01", "--end",
                            "2100-01-01", "--home", home, "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_text().splitlines()[0].startswith("id,time,endpoint,route")
