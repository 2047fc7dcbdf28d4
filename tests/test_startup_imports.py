"""Start-up (issue 17, slow start): a fresh `modelyard runs list` builds only the tables it
reads and imports no data library, and the model server's modules import no polars or fsspec
(the prediction log's reader and the local artifact store load them on first use)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import modelyard as my


def _modules(script: str, cwd: Path) -> set[str]:
    done = subprocess.run([sys.executable, "-c", script + "\nimport json, sys\n"
                           "print(json.dumps(sorted(sys.modules)))\n"],
                          capture_output=True, text=True, check=True, timeout=300,
                          env=os.environ.copy(), cwd=cwd)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_runs_list_builds_only_its_tables_and_imports_no_data_library(tmp_path: Path) -> None:
    with my.connect(home=tmp_path / "yard") as yard, yard.start_run(experiment="e") as run:
        run.log_metrics({"m": 1.0})
    modules = _modules(
        "import sys\n"
        f"sys.argv = ['modelyard', '--home', {str(tmp_path / 'yard')!r}, 'runs', 'list']\n"
        "from modelyard.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n",
        tmp_path)
    tables = {m for m in modules if m.startswith("modelyard.store.schema.")}
    assert tables == {"modelyard.store.schema.base", "modelyard.store.schema.tracking",
                      "modelyard.store.schema.audit"}
    unwanted = {"numpy", "pandas", "pyarrow", "polars", "fsspec", "alembic", "httpx"}
    assert sorted(unwanted & modules) == []


def test_the_model_servers_modules_import_no_polars_or_fsspec(tmp_path: Path) -> None:
    modules = _modules("import modelyard.serving.app, modelyard.cli.main", tmp_path)
    assert sorted({"polars", "fsspec", "duckdb", "plotly"} & modules) == []


def test_the_schema_package_gives_every_table_to_alembic() -> None:
    import pkgutil

    from modelyard.store import schema
    from modelyard.store.schema import Base

    names = {m.name for m in pkgutil.iter_modules(schema.__path__)}
    assert {"tracking", "registry", "serving", "audit", "explain"} <= names
    assert all(f"modelyard.store.schema.{name}" in sys.modules for name in names)
    assert {"runs", "audit_log", "model_versions", "serving_endpoints"} <= set(Base.metadata.tables)
