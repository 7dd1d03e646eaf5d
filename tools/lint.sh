#!/usr/bin/env bash
# The house rules `make test` enforces (make lint runs this alone):
#   ruff (lint + import order), ruff format --check, clang-format --dry-run on the hand-written C,
#   import-linter (compress -> export -> firmware -> board_tests -> tools, never back) and mypy on export/ and
#   compress/.
# import-linter and mypy need the real package layout (the repository's top-level folders install as
# edgel3_mote.<sub>), so they read a throw-away non-editable install in a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

echo "lint: ruff check"
$PY -m ruff check .
echo "lint: ruff format --check"
$PY -m ruff format --check .
if command -v clang-format >/dev/null 2>&1; then
    echo "lint: clang-format (firmware C)"
    find firmware tests/support tests/firmware/c -name '*.[ch]' -print0 | xargs -0 clang-format --dry-run --Werror
else
    echo "lint: error: clang-format missing (tools/setup.sh installs it)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$PY -m pip install -q --no-deps --no-compile --disable-pip-version-check --target "$tmp/site" . 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
[ -f "$tmp/site/edgel3_mote/__init__.py" ] || { echo "lint: error: could not install a copy for the import graph" >&2; exit 1; }
repo=$(pwd)
echo "lint: import-linter"
(cd "$tmp" && PYTHONPATH="$tmp/site" "$repo/$(dirname "$PY")/lint-imports" "$repo/pyproject.toml" --no-cache)
echo "lint: mypy export/ compress/"
(cd "$tmp/site" && PYTHONPATH="$tmp/site" "$repo/$PY" -m mypy --config-file "$repo/pyproject.toml" \
    -p edgel3_mote.export -p edgel3_mote.compress)
echo "lint: all clean"
