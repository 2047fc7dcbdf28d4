VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_WORKERS ?= auto

.PHONY: install demo test lint bench clean pg-up browser

# One venv for both: `make demo` installs the core only (what the demo and the main job need:
# no dev tools, no torch/CUDA, no xgboost/lightgbm/onnx); `make test` (or `make install`) adds
# every extra to the same venv, whichever ran first. A stamp per level; pyproject.toml newer
# than a stamp reinstalls that level.
$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.core: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e '.[dev,torch]'
	touch $@ $(VENV)/.core

install: $(VENV)/.installed

demo: $(VENV)/.core
	$(VENV)/bin/modelyard demo

pg-up:
	@pg_isready -q -h 127.0.0.1 -p 5432 || \
	  (pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start && sleep 2)
	@pg_isready -h 127.0.0.1 -p 5432

browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

test: install pg-up browser
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadgroup -q -p no:cacheprovider \
	  --cov=modelyard --cov-report=term:skip-covered tests

lint:
	$(VENV)/bin/ruff check src tests bench

clean:
	rm -rf $(VENV) .pytest_cache .coverage*
