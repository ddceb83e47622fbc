# Tepat: `make run` sets up and runs the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt requirements-face.txt pyproject.toml | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: setup run test lint bench clean

$(STAMP):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	# face_recognition declares dlib (a long source build); dlib-bin, installed above, provides it.
	$(PY) -m pip install --quiet --no-deps -r requirements-face.txt
	$(PY) -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

MO := $(patsubst %.po,%.mo,$(wildcard web/translations/*/LC_MESSAGES/messages.po))
VENDOR := web/static/vendor/bootstrap.min.css web/static/vendor/bootstrap.bundle.min.js web/static/vendor/htmx.min.js \
	web/static/vendor/bpmn-navigated-viewer.production.min.js web/static/vendor/bpmn-js.css web/static/vendor/diagram-js.css \
	web/static/vendor/bpmn-modeler.production.min.js web/static/vendor/dmn-modeler.production.min.js \
	web/static/vendor/dmn/.copied web/static/vendor/chart.umd.min.js web/static/vendor/swagger-ui/.copied \
	web/static/vendor/axe.min.js web/static/vendor/bpmn-font/.copied

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

web/static/vendor/bootstrap.min.css: node_modules/.package-lock.json
	mkdir -p web/static/vendor
	cp node_modules/bootstrap/dist/css/bootstrap.min.css $@

web/static/vendor/bootstrap.bundle.min.js: node_modules/.package-lock.json
	mkdir -p web/static/vendor
	cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js $@

web/static/vendor/htmx.min.js: node_modules/.package-lock.json
	mkdir -p web/static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $@

web/static/vendor/bpmn-navigated-viewer.production.min.js: node_modules/.package-lock.json
	mkdir -p web/static/vendor
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js $@

web/static/vendor/bpmn-modeler.production.min.js: node_modules/.package-lock.json
	mkdir -p web/static/vendor
	cp node_modules/bpmn-js/dist/bpmn-modeler.production.min.js $@

web/static/vendor/dmn-modeler.production.min.js: node_modules/.package-lock.json
	mkdir -p web/static/vendor
	cp node_modules/dmn-js/dist/dmn-modeler.production.min.js $@

# dmn-js styles and its icon font (the CSS refers to the font by a relative path).
web/static/vendor/bpmn-font/.copied: node_modules/.package-lock.json
	mkdir -p web/static/vendor/bpmn-font
	cp -r node_modules/bpmn-js/dist/assets/bpmn-font/. web/static/vendor/bpmn-font/
	touch $@

web/static/vendor/dmn/.copied: node_modules/.package-lock.json
	mkdir -p web/static/vendor/dmn
	cp -r node_modules/dmn-js/dist/assets/. web/static/vendor/dmn/
	touch $@

web/static/vendor/chart.umd.min.js: node_modules/.package-lock.json
	mkdir -p web/static/vendor
	cp node_modules/chart.js/dist/chart.umd.min.js $@

web/static/vendor/swagger-ui/.copied: node_modules/.package-lock.json
	mkdir -p web/static/vendor/swagger-ui
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css web/static/vendor/swagger-ui/
	touch $@

# Only the browser tests use axe (accessibility checks of the portal pages).
web/static/vendor/axe.min.js: node_modules/.package-lock.json
	mkdir -p web/static/vendor
	cp node_modules/axe-core/axe.min.js $@

web/static/vendor/%.css: node_modules/.package-lock.json
	mkdir -p web/static/vendor
	cp node_modules/bpmn-js/dist/assets/$*.css $@

%.mo: %.po $(STAMP)
	$(VENV)/bin/pybabel compile -i $< -o $@

setup: $(STAMP) $(MO) $(VENDOR)

# Embedded default: SQLite in var/, in-process scheduler, sandbox integrations, demo data.
run: setup
	$(VENV)/bin/tepat setup
	$(VENV)/bin/flask --app wsgi run --host $(HOST) --port $(PORT)

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Lint and type check (configured in pyproject.toml; the same checks run in .pre-commit-config.yaml).
TYPED := cases engine tasks payments integrations web forms settings.py wsgi.py
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(TYPED)

bench: setup
	$(PY) bench/throughput.py

clean:
	rm -rf $(VENV) var .pytest_cache
