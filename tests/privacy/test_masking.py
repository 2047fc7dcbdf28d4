"""Flagged columns are masked in the prediction log before a record is written: the
write-ahead segments and the compacted Parquet never hold the raw value."""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest

import modelyard as my
from modelyard.errors import InvalidParameter
from modelyard.predictions.privacy import keyed_hash, load_secret
from modelyard.serving.endpoints import parse_endpoints

from .conftest import INCOMES, ServerFactory, log_bytes, rows


def _wal_bytes(yard: my.Yard) -> bytes:
    return b"".join(f.read_bytes() for f in sorted(
        Path(yard.settings.resolved_prediction_log_dir).rglob("*")) if f.is_file())


def _logged(yard: my.Yard):  # the endpoint's rows, from Parquet once the server stopped
    now = yard.clock.now()
    return yard.predictions.query("loans", now - timedelta(minutes=10), now)


def test_flagged_columns_are_hashed_by_default(loans_server: ServerFactory,
                                               loans_yard: my.Yard) -> None:
    body = rows(4)  # rows 0 and 3 share an income
    with loans_server() as url:
        r = httpx.post(f"{url}/predict/loans", json={"records": body})
        assert r.status_code == 200, r.text
        live = _wal_bytes(loans_yard)
        rec = loans_yard.predictions.get(r.json()["ids"][0])  # from the open segment
    assert b"98765.4321" not in live and b"10115.0" not in live and b"12345.6789" not in live
    assert b'"age":30.0' in live  # not flagged (internal): logged as sent
    assert str(rec.inputs["income"]).startswith("hmac-sha256:")
    df = _logged(loans_yard)
    assert df.height == 4 and "98765.4321" not in log_bytes(loans_yard).decode("latin-1")
    incomes = df["input.income"].to_list()
    assert all(v.startswith("hmac-sha256:") for v in incomes)
    assert incomes[0] == incomes[3] and len(set(incomes[:3])) == 3  # equal values still join
    secret = load_secret(loans_yard.settings)
    assert incomes[0] == keyed_hash(secret, INCOMES[0])
    assert incomes[0][len("hmac-sha256:"):] == hmac.new(
        secret, orjson.dumps(INCOMES[0]), hashlib.sha256).hexdigest()
    assert df["input.age"].to_list() == [30.0, 31.0, 32.0, 33.0]


def test_drop_and_per_column_choices(loans_server: ServerFactory, loans_yard: my.Yard) -> None:
    with loans_server({"mask": "drop", "columns": {"zip": "hash", "age": "drop"}}) as url:
        r = httpx.post(f"{url}/predict/loans", json={"records": rows(2)})
        assert r.status_code == 200, r.text
        assert b"98765.4321" not in _wal_bytes(loans_yard)
    df = _logged(loans_yard)
    assert "input.income" not in df.columns and "input.age" not in df.columns
    assert all(v.startswith("hmac-sha256:") for v in df["input.zip"].to_list())


def test_keep_logs_flagged_columns_as_sent(loans_server: ServerFactory,
                                           loans_yard: my.Yard) -> None:
    with loans_server({"mask": "keep"}) as url:
        assert httpx.post(f"{url}/predict/loans", json={"records": rows(1)}).status_code == 200
    assert _logged(loans_yard)["input.income"].to_list() == [INCOMES[0]]


def test_the_secret_is_generated_once_with_owner_only_permissions(tmp_path: Path) -> None:
    settings = my.Settings.load({}, home=tmp_path / "h")
    first = load_secret(settings)
    path = tmp_path / "h" / "privacy.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret(settings) == first and len(first) == 64
    from_env = my.Settings.load({"MODELYARD_PRIVACY_SECRET": "s3cret"}, home=tmp_path / "h")
    assert load_secret(from_env) == b"s3cret"
    assert keyed_hash(b"s3cret", 1) != keyed_hash(first, 1) != keyed_hash(first, "1")


def test_a_privacy_typo_is_refused_naming_the_key() -> None:
    with pytest.raises(InvalidParameter, match=r"unknown key 'mask_mode'.*'mask'"):
        parse_endpoints([{"name": "loans", "routes": [{"model": "loans/1"}],
                          "privacy": {"mask_mode": "drop"}}])
    with pytest.raises(InvalidParameter, match=r"privacy.mask"):
        parse_endpoints([{"name": "loans", "routes": [{"model": "loans/1"}],
                          "privacy": {"mask": "scramble"}}])
