# `make demo`: set up .venv and run the sentiment spec on the committed demo model.
# `make test`: set up .venv and run the test suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup test-setup demo demo-compare demo-transformer demo-digits demo-income demo-diabetes demo-service demo-checklist test golden clean bench-setup bench mutation mutation-sample

setup: $(VENV)/.installed

# torch is pinned first: its CPU build lies on the local disk, an unpinned one is a multi-GB CUDA download.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps torchattacks==3.5.1
	touch $@

# The demo spec is written to find the model's weaknesses, so some of its tests fail
# (exit 1). Only a spec error (2) or a run that could not complete (3) fails `make demo`.
demo: setup
	@$(BIN)/mlspec run specs/sentiment/sentiment.mlspec --junit junit.xml --json results.json --html report.html; \
	code=$$?; if [ $$code -le 1 ]; then echo "demo finished (mlspec exit code $$code: 1 means some model tests failed)"; else exit $$code; fi

# The same sentiment spec on the demo LSTM (a model card swapped in with --model),
# side by side with the TF-IDF model's results.
demo-compare: setup
	@$(BIN)/mlspec run specs/sentiment/sentiment.mlspec --json results.json --examples 0 > /dev/null; \
	$(BIN)/mlspec run specs/sentiment/sentiment.mlspec --model sentiment=specs/sentiment/model/lstm.mlspec \
	  --baseline results.json --junit junit-lstm.xml --json results-lstm.json --examples 1; \
	code=$$?; [ $$code -le 1 ] || exit $$code

# The sentiment spec on the demo transformer (its ONNX export fed by its WordPiece
# tokenizer) beside the TF-IDF model's results, then text attacks on it.
demo-transformer: setup
	@$(BIN)/mlspec run specs/sentiment/sentiment.mlspec --json results.json --examples 0 > /dev/null; \
	$(BIN)/mlspec run specs/sentiment/sentiment.mlspec --model sentiment=specs/sentiment/model/transformer.mlspec \
	  --baseline results.json --junit junit-transformer.xml --json results-transformer.json --examples 1; \
	code=$$?; [ $$code -le 1 ] || exit $$code; \
	$(BIN)/mlspec run specs/sentiment/attacks.mlspec --model sentiment=specs/sentiment/model/transformer.mlspec \
	  --junit junit-attacks.xml --json results-attacks.json --examples 2; \
	code=$$?; [ $$code -le 1 ] || exit $$code

# Robustness of the digit CNN: noise, semantic changes, FGSM/PGD and the square attack.
demo-digits: setup
	@$(BIN)/mlspec run specs/digits/digits.mlspec --junit junit-digits.xml --json results-digits.json --examples 2; \
	code=$$?; [ $$code -le 1 ] || exit $$code

# An income classifier on UCI Adult: data checks, metrics, counterfactuals, group fairness.
demo-income: setup
	@$(BIN)/mlspec run specs/income/income.mlspec --junit junit-income.xml --json results-income.json; \
	code=$$?; [ $$code -le 1 ] || exit $$code

# A regression model on scikit-learn's diabetes data: metrics, monotonic DIRs, fairness, data checks, drift.
demo-diabetes: setup
	@$(BIN)/mlspec run specs/diabetes/diabetes.mlspec --junit junit-diabetes.xml --json results-diabetes.json --examples 1; \
	code=$$?; [ $$code -le 1 ] || exit $$code

# CheckList's released sentiment suite, imported, on the binary demo model (neutral band).
demo-checklist: setup
	@$(BIN)/mlspec import checklist specs/checklist/sentiment_suite.json.gz -o build/checklist && \
	$(BIN)/mlspec run build/checklist/sentiment_suite.mlspec --model sentiment=specs/checklist/demo_model.mlspec \
	  --junit junit-checklist.xml --json results-checklist.json --examples 1; \
	code=$$?; [ $$code -le 1 ] || exit $$code

# The sentiment model served over HTTP (loopback), its behaviour over the wire and a load test.
demo-service: setup
	@$(BIN)/mlspec serve specs/sentiment/sentiment.mlspec --port 8080 & server=$$!; \
	for i in $$(seq 50); do $(BIN)/python -c "import httpx,sys; sys.exit(0 if httpx.get('http://127.0.0.1:8080/v2/health/ready').is_success else 1)" 2>/dev/null && break; sleep 0.2; done; \
	$(BIN)/mlspec run specs/sentiment/service.mlspec --junit junit-service.xml --json results-service.json; code=$$?; \
	kill $$server; [ $$code -le 1 ] || exit $$code

# Everything the tests need: the package with its `test` extra, torchattacks (--no-deps) and
# CheckList's wheel (the reference libraries the tests compare figures with).
test-setup: $(VENV)/.installed $(VENV)/.checklist-installed

test: test-setup
	$(BIN)/python -m pytest -q

$(VENV)/.mutmut-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check mutmut==3.8.1
	touch $@

# Mutation testing of the modules that compute figures (docs/mutation.md): slow, apart from `make test`.
mutation: $(VENV)/.mutmut-installed test-setup
	$(BIN)/python tests/mutation/run.py --fail-under 90

# 40 mutants drawn with the fixed seed in tests/mutation/run.py: a few minutes (CI runs it).
# Fails under 85% of the sample killed: about 5% of all mutants are equivalent survivors.
mutation-sample: $(VENV)/.mutmut-installed test-setup
	$(BIN)/python tests/mutation/run.py --sample 40 --name sample --fail-under 85

# CheckList 0.0.11, for benchmarks/checklist_suite.py and tests/test_checklist_reference.py (a test dependency). Its sdist's
# setup.py runs `pip install jupyter` and notebook's removed nbextensions API on every
# egg_info / build_py, so the wheel is built in a throwaway venv with a stand-in `notebook`
# module and the nested pip made a dry run; then the wheel and CheckList's few pure-Python
# imports are installed with --no-deps (no spaCy, transformers, pattern or Jupyter).
bench-setup: $(VENV)/.checklist-installed

$(VENV)/.checklist-installed: $(VENV)/.installed
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check setuptools wheel; \
	mkdir "$$tmp/stub" "$$tmp/stub/notebook"; \
	printf 'class nbextensions:\n    install_nbextension_python = enable_nbextension_python = staticmethod(lambda *a, **k: None)\n' > "$$tmp/stub/notebook/__init__.py"; \
	PYTHONPATH="$$tmp/stub" PIP_DRY_RUN=1 PIP_NO_DEPS=1 "$$tmp/venv/bin/python" -m pip wheel --quiet --disable-pip-version-check \
	  --no-deps --no-build-isolation checklist==0.0.11 -w "$$tmp/wheel"; \
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps "$$tmp"/wheel/checklist-0.0.11-*.whl munch dill iso-639; \
	touch $@

# mlspec run vs raw ONNX Runtime vs CheckList on CheckList's released sentiment suite.
bench: bench-setup
	$(BIN)/python benchmarks/checklist_suite.py

# Rewrite the golden files under tests/golden/ after an intended change; review the diff.
golden: setup
	$(BIN)/python tests/golden/regenerate.py

clean:
	rm -rf $(VENV) junit*.xml results*.json *.egg-info
