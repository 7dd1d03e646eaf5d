# edgel3-mote -- the two commands a newcomer needs:
#   make demo   set up, export the default model for the default QEMU board, run it, report
#   make test   set up, run the host test suite and the QEMU board tests
# Everything else is a thin wrapper over the `edgel3-mote` CLI (see `make help`).

SHELL := /bin/bash
PY    := .venv/bin/python
CLI   := $(PY) -m edgel3_mote

BOARD   ?= qemu-mps2-an386
MODEL   ?= sea-64
WEIGHTS ?=
CLIPS   ?=
RUNTIME ?= engine
REPORT  ?= build/report/$(BOARD)/$(MODEL)$(if $(filter-out engine,$(RUNTIME)),-$(RUNTIME),)
HOP     ?= 0.1
PORT    ?=
BAUD    ?= 115200
CLASSIFIER ?=
PYTEST_ARGS ?=
FUZZ_SECONDS ?= 60
DRY_RUN ?=
IMAGE   ?=

WEIGHTS_ARG := $(if $(WEIGHTS),--weights $(WEIGHTS),)
CLIPS_ARG   := $(if $(CLIPS),--clips $(CLIPS),)
CLASSIFIER_ARG := $(if $(CLASSIFIER),--classifier $(CLASSIFIER),)
PORT_ARG    := $(if $(PORT),--port $(PORT) --baud $(BAUD),)
RUNTIME_ARG := --runtime $(RUNTIME)

.PHONY: help path setup test demo export flash selftest bench bench-kernels bench-sparsity emulate results fuzz lint clean

help:
	@echo "make demo                     set-up + export + run on QEMU + report (the main job)"
	@echo "make test                     set-up + lint + host tests + QEMU board tests"
	@echo "make export   BOARD= MODEL= WEIGHTS=            generate + build build/<board>/<model>/"
	@echo "make flash    BOARD=nucleo-h743zi|nrf52840dk MODEL= [RUNTIME=tflm] [DRY_RUN=1] [IMAGE=file.bin]   write the built firmware with OpenOCD"
	@echo "make selftest BOARD= MODEL= WEIGHTS= CLIPS=     run the firmware self-test in QEMU"
	@echo "make bench    BOARD= MODEL= WEIGHTS= CLIPS= REPORT= HOP= [PORT= BAUD=]   serial benchmark"
	@echo "make bench-kernels               instructions + est. cycles per MAC of the kernels in QEMU: int8, w16, tiled, Winograd, sparse, FC, weights in flash too (+ CMSIS-NN from TFLM_PATH)"
	@echo "make bench-sparsity              dense vs sparse conv kernel at 0-98 % zeros in QEMU -> build/bench/sparsity/"
	@echo "make emulate  BOARD=qemu-...                    start QEMU, bench over serial, stop QEMU"
	@echo "make results                  rerun the tests that measure the README's figures; rewrite results/results.json + the README table"
	@echo "make lint                     ruff (lint + format check), clang-format, import-linter (data flow), mypy on export/ and compress/"
	@echo "make fuzz     [FUZZ_SECONDS=60]                 libFuzzer + ASan/UBSan on the protocol parser"
	@echo "RUNTIME=tflm runs TFLite Micro + CMSIS-NN (from TFLM_PATH) instead of the engine; RUNTIME=both (bench/emulate/demo) both side by side"
	@echo "CLASSIFIER=head.h5 (from evaluate --save-classifier) adds the int8 classifier head to any of them"
	@echo "the CLI itself: . .venv/bin/activate, then edgel3-mote --help   (or: eval \"\$$(make -s path)\")"
	@echo "defaults: BOARD=$(BOARD) MODEL=$(MODEL) HOP=$(HOP) (no WEIGHTS = seeded random weights; WEIGHTS=sea-64 after edgel3-mote weights fetch sea-64)"

setup:
	@tools/setup.sh

path:
	@echo 'export PATH="$(CURDIR)/.venv/bin:$$PATH"'

test: setup
	tools/lint.sh
	$(PY) -m pytest tests board_tests $(PYTEST_ARGS)

demo: setup
	$(CLI) demo --board $(BOARD) --model $(MODEL) $(RUNTIME_ARG) $(WEIGHTS_ARG) $(CLASSIFIER_ARG) $(CLIPS_ARG) -o $(REPORT) --hop-size $(HOP)

export: setup
	$(CLI) export firmware --board $(BOARD) --model $(MODEL) $(RUNTIME_ARG) $(WEIGHTS_ARG) $(CLASSIFIER_ARG) $(CLIPS_ARG)

flash: setup
	$(CLI) flash --board $(BOARD) --model $(MODEL) $(RUNTIME_ARG) $(if $(IMAGE),--image $(IMAGE),) $(if $(DRY_RUN),--dry-run,)

selftest: setup
	$(CLI) selftest --board $(BOARD) --model $(MODEL) $(RUNTIME_ARG) $(WEIGHTS_ARG) $(CLASSIFIER_ARG) $(CLIPS_ARG)

bench: setup
	$(CLI) bench --board $(BOARD) --model $(MODEL) $(RUNTIME_ARG) $(WEIGHTS_ARG) $(CLASSIFIER_ARG) $(CLIPS_ARG) $(PORT_ARG) -o $(REPORT) --hop-size $(HOP)

emulate: setup
	$(CLI) emulate --board $(BOARD) --model $(MODEL) $(RUNTIME_ARG) $(WEIGHTS_ARG) $(CLASSIFIER_ARG) $(CLIPS_ARG) -o $(REPORT) --hop-size $(HOP)

fuzz: setup
	$(PY) firmware/protocol/fuzz/run.py --seconds $(FUZZ_SECONDS)

bench-kernels: setup
	$(PY) -m edgel3_mote.board_tests.harness.kernel_bench

lint: setup
	tools/lint.sh

results: setup
	$(PY) -m edgel3_mote.tools.results measure $(if $(ONLY),--only $(ONLY),)

bench-sparsity: setup
	$(PY) -m edgel3_mote.board_tests.harness.sparsity_sweep -o build/bench/sparsity

clean:
	rm -rf build .pytest_cache
