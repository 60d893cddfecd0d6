#!/usr/bin/env bash
# checkov on the Bicep templates, from its own venv (.venv-checkov, created on first run: ~45 s,
# about 150 packages, kept apart from the app's venv because checkov pins its own pycep-parser).
# Usage: tests/infra/run_checkov.sh [extra checkov args]
# Accepted findings carry a `// checkov:skip=<id>: <reason>` comment inside the resource.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${CHECKOV_VENV:-.venv-checkov}"
CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
if [ ! -x "$VENV/bin/checkov" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi
# --skip-download: no calls to the Prisma Cloud API (policy metadata only; works offline).
exec "$VENV/bin/checkov" --framework bicep -d infra/bicep --compact --skip-download "$@"
