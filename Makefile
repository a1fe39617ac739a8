# make demo: set up .venv, then run the main lesson (iterate.py).
# make test: set up .venv with the test tools, then run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lessons benchmark clean

demo: $(VENV)/.runtime
	$(BIN)/python iterate.py

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q tests

# Every lesson script, headless, each writing its picture to docs/.
lessons: $(VENV)/.runtime
	for script in generate_samples initialise update_step iterate converge; do \
	    $(BIN)/python $$script.py --centroid-seed 7 --save docs/$$script.png || exit 1; \
	done

benchmark: $(VENV)/.dev
	$(BIN)/python benchmark.py

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
