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


def _invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_query_prints_a_table_with_whole_ids_and_json(local_yard: my.Yard) -> None:
    ids = _log(local_yard)
    home = str(local_yard.settings.home)
    code, out, _ = _invoke("--home", home, "predictions", "query", "loans", "--start",
                           "2000-01-01", "--end", "2100-01-01")
    assert code == 0, out
    lines = out.splitlines()
    for pid in ids:  # each id whole on one line, with its row
        [line] = [x for x in lines if pid in x]
        assert "loans/2" in line and "age=" in line
    assert lines[1].split()[1:3] == ["id", "time"] or "id" in lines[1]
    code, out, _ = _invoke("--home", home, "predictions", "query", "loans", "--start",
                           "2000-01-01", "--end", "2100-01-01", "--json")
    assert code == 0
    records = json.loads(out)
    assert [r["id"] for r in records] == ids and records[1]["inputs"] == {"age": 31}
    code, out, _ = _invoke("--home", home, "predictions", "query", "loans", "--start",
                           "2000-01-01", "--end", "2000-01-02")
    assert code == 0 and "no predictions of 'loans' between 2000-01-01 and 2000-01-02" in out


def test_an_unknown_endpoint_is_an_error_with_a_did_you_mean(local_yard: my.Yard) -> None:
    _log(local_yard)
    home = str(local_yard.settings.home)
    for command in (["predictions", "query", "laons", "--start", "2000-01-01", "--end",
                     "2100-01-01"],
                    ["monitor", "run", "laons", "--window", "1h"]):
        code, _out, err = _invoke("--home", home, *command)
        assert code == 1, err
        assert err.strip() == ("error: No endpoint named 'laons' has logged predictions. "
                               "Did you mean 'loans'?")
