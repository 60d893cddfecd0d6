"""The mutation score of every mutated file, from mutmut 3's result files (mutants/**.meta).

Killed: a test failed (or the mutant timed out). Survived and "no tests" count against the
file. Mutants listed as equivalent (scripts/mutation-equivalents.txt: `name  reason`) are
shown apart and left out of the score. Exit 1 when a file scores under --threshold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KILLED = {1, 3, 24, -24, 36, 37, 152, 255}  # failed, pytest error, timeouts, type check
SURVIVED = {0}
THRESHOLD = 0.90


def equivalents(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.partition(" ")
            found[name] = reason.strip()
    return found


def main(mutants: Path, equivalents_file: Path) -> int:
    known = equivalents(equivalents_file)
    failing, total_killed, total_counted = [], 0, 0
    print(f"{'file':34} {'killed':>7} {'of':>5} {'score':>7}  equivalent  not killed")
    for meta in sorted(mutants.rglob("*.py.meta")):
        results: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not results:
            continue
        name = str(meta.relative_to(mutants))[: -len(".meta")]
        equivalent = [m for m in results if m in known]
        counted = {m: code for m, code in results.items() if m not in known}
        killed = sum(1 for code in counted.values() if code in KILLED)
        missed = sorted(m for m, code in counted.items() if code not in KILLED)
        score = killed / len(counted) if counted else 1.0
        total_killed, total_counted = total_killed + killed, total_counted + len(counted)
        print(
            f"{name:34} {killed:7} {len(counted):5} {score:7.1%}  {len(equivalent):10}  "
            f"{' '.join(missed[:6])}{' ...' if len(missed) > 6 else ''}"
        )
        if score < THRESHOLD:
            failing.append(name)
    overall = total_killed / total_counted if total_counted else 1.0
    print(f"{'all':34} {total_killed:7} {total_counted:5} {overall:7.1%}")
    for name, reason in sorted(known.items()):
        print(f"equivalent: {name}: {reason}")
    if failing:
        print(f"under {THRESHOLD:.0%}: {', '.join(failing)}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
