#!/usr/bin/env bash
# `make mutation`: mutmut over domain/ and application/ with the fast, deterministic tiers
# ([tool.mutmut] in pyproject.toml), then the score of every file (scripts/mutation_report.py).
# It runs in a copy of the work tree (tracked and new files, edits included) outside it, so
# mutants/ never lands where ruff, pytest or git look, and you can keep working meanwhile.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
python=${PYTHON_BIN:-$root/.venv/bin/python}
work=${MUTATION_DIR:-${TMPDIR:-/tmp}/quoting-saga-mutation}
rm -rf "$work" && mkdir -p "$work"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' file; do
  [ -e "$file" ] && cp --parents -- "$file" "$work/"
done
cd "$work"
"$python" -m mutmut run --max-children "${MUTATION_CHILDREN:-$(nproc)}" >"$work/run.log" 2>&1 \
  || { tail -n 40 "$work/run.log"; exit 1; }
"$python" "$root/scripts/mutation_report.py" "$work/mutants" "$root/scripts/mutation-equivalents.txt"
