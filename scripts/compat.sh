#!/usr/bin/env bash
# Runs the unit, functions and contract tiers on every other Python the app supports
# (Azure Functions runs 3.11, 3.12 and 3.13), each in its own venv (.venv-3.12, .venv-3.13).
# A version not installed here is reported as skipped, with its name.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for version in ${COMPAT_PYTHONS:-3.12 3.13}; do
  python=""
  for candidate in "python$version" "$(pyenv root 2>/dev/null)"/versions/"$version"*/bin/python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c pass >/dev/null 2>&1; then
      python=$(command -v "$candidate"); break
    fi
  done
  if [ -z "$python" ]; then
    echo "compat: SKIPPED Python $version (no interpreter found)"; continue
  fi
  venv=".venv-$version"
  if [ ! -f "$venv/.installed" ] || [ requirements-dev.txt -nt "$venv/.installed" ] \
      || [ requirements.txt -nt "$venv/.installed" ]; then
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
    touch "$venv/.installed"
  fi
  echo "compat: Python $("$venv/bin/python" -V 2>&1 | cut -d' ' -f2)"
  "$venv/bin/python" -m devhost index | sed -n 1p  # sed reads it all: no broken pipe
  REQUIRE_WORKER_INDEXER=$([ "$version" = 3.13 ] && echo 1) \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit tests/functions tests/contract \
    || status=1
done
exit $status
