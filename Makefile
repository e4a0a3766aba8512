# The two commands a newcomer needs: `make demo` and `make test`.
# Both create .venv on first use and install what they need into it.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test lint typecheck check-live-deps check-browser-deps bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[all]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/kvs-sim run scenarios/ryw_vs_stale.py --out out/demo

lint: $(STAMP)
	$(BIN)/ruff check kvs_sim tests bench scenarios
	$(BIN)/ruff format --check kvs_sim tests bench scenarios
	$(BIN)/mypy

# Live tests need Debian's mosquitto; install it when it is missing (as root, no prompt).
check-live-deps:
	@command -v mosquitto >/dev/null 2>&1 || /usr/sbin/mosquitto -h >/dev/null 2>&1 || { \
	  echo "installing mosquitto (Debian package) for the live tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto mosquitto-clients >/dev/null) \
	  || echo "warning: could not install mosquitto; live tests will be skipped"; }

# Browser tests of the HTML reports need Debian's chromium and its driver (never a
# downloaded browser); install them when missing.
check-browser-deps:
	@{ test -x /usr/bin/chromium && test -x /usr/bin/chromedriver; } || { \
	  echo "installing chromium and chromium-driver (Debian packages) for the browser tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	  || echo "warning: could not install chromium; browser tests will be skipped"; }

test: $(STAMP) lint check-live-deps check-browser-deps
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/sim_throughput.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
