# The two commands in the README: `make run` opens the app on the bundled sample model,
# `make test` runs every test. Both create the virtual environment on first use.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: run test samples bench bench-quick dist deb

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/inferdesk

# lint-imports checks the layers declared in pyproject.toml ([tool.importlinter]) before the tests run.
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-cache
	QT_QPA_PLATFORM=offscreen timeout 2700 $(VENV)/bin/python -m pytest -q

# Rebuild the sample models and inputs (needs scikit-learn, skl2onnx, scikit-image).
samples: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[test,samples]'
	$(VENV)/bin/python models/build_samples.py
	$(VENV)/bin/python -m desktop.selftest --write-expected

# The throughput benchmark (benchmarks/throughput.py): prints ratios against plain onnxruntime.
bench: $(STAMP)
	$(VENV)/bin/python benchmarks/throughput.py

bench-quick: $(STAMP)
	$(VENV)/bin/python benchmarks/throughput.py --quick

# The frozen one-folder bundle (dist/inferdesk/) and the Debian package made from it.
$(VENV)/.pyinstaller: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet 'pyinstaller>=6.10'
	touch $@

dist: $(VENV)/.pyinstaller
	$(VENV)/bin/python -m PyInstaller --noconfirm --clean --log-level WARN build.spec

deb: dist
	packaging/linux/build_deb.sh
