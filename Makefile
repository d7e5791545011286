# The two commands in the README: `make run` opens the app on the bundled sample model,
# `make test` runs every test. Both create the virtual environment on first use.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: run test samples bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/inferdesk

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(VENV)/bin/python -m pytest -q

# Rebuild the sample models and inputs (needs scikit-learn, skl2onnx, scikit-image).
samples: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e '.[test,samples]'
	$(VENV)/bin/python models/build_samples.py
