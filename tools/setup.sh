#!/usr/bin/env bash
# One-time set-up on a fresh machine (called by `make setup`, `make test`, `make demo`, .ci/run):
#   1. Debian packages: the Arm cross compiler + newlib, QEMU for Cortex-M boards, ffmpeg
#      (audio/video decoding for AudioSet-format data), clang-format (make lint), clang + libFuzzer +
#      llvm-cov (the protocol fuzzer), OpenOCD (make flash) -- only when missing;
#   2. .venv with the package installed editable plus its test extras.
# Idempotent and quick when nothing changed (a stamp file tracks pyproject.toml/setup.py).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

need_apt=()
command -v arm-none-eabi-gcc >/dev/null 2>&1 || need_apt+=(gcc-arm-none-eabi)
[ -e /usr/lib/arm-none-eabi/newlib/libc.a ] || [ -e /usr/lib/arm-none-eabi/lib/libc.a ] || need_apt+=(libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || need_apt+=(qemu-system-arm)
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v clang-format >/dev/null 2>&1 || need_apt+=(clang-format)
# the protocol fuzzer (make fuzz): clang with libFuzzer + ASan/UBSan runtimes, llvm-cov for its coverage
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
{ command -v clang >/dev/null 2>&1 && [ -e "$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)" ]; } \
    || need_apt+=(libclang-rt-dev)
command -v llvm-profdata >/dev/null 2>&1 && command -v llvm-cov >/dev/null 2>&1 || need_apt+=(llvm)
# make flash: OpenOCD writes the firmware to the real boards through their on-board ST-LINK / J-Link
command -v openocd >/dev/null 2>&1 || need_apt+=(openocd)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

stamp=.venv/.edgel3-mote-installed
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
    echo "setup: installing edgel3-mote (editable) and its test extras into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    touch "$stamp"
fi
echo "setup: ready ($(.venv/bin/python --version), $(arm-none-eabi-gcc --version | head -1), $(qemu-system-arm --version | head -1))"
