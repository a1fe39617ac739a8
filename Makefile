# make demo: set up .venv, then run the main lesson (iterate.py).
# make test: set up .venv with the test tools, then run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test pictures benchmark clean

demo: $(VENV)/.runtime
	$(BIN)/python iterate.py

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q tests

# Redraw the README's pictures in docs/ with every lesson script, headless.
pictures: $(VENV)/.runtime
	for script in generate_samples initialise update_step iterate \
	        quantize distributed serve; do \
	    $(BIN)/python $$script.py --centroid-seed 7 --save docs/$$script.png || exit 1; \
	done
	$(BIN)/python converge.py --centroid-seed 10 --n-clusters 5 \
	    --save docs/converge.png
	$(BIN)/python choose_k.py --n-clusters 4 --seed 1 --max-k 7 \
	    --centroid-seed 7 --save docs/choose_k.png
	$(BIN)/python animate.py --centroid-seed 7 --save docs/animate.gif
	$(BIN)/python cluster_file.py docs/example_data.csv --n-clusters 4 \
	    --centroid-seed 7 --save docs/cluster_file.png

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
