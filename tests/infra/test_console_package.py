"""The console's page ships in the deployment package: azd and Core Tools leave out what
.funcignore names, in gitignore syntax
(https://learn.microsoft.com/azure/developer/azure-developer-cli/service-packaging-ignore-files),
and the HTTP function reads the page from triggers/ at run time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]


def packaged(path: str) -> bool:
    """Whether .funcignore (with the repository's .gitignore) leaves `path` in the package."""
    ignored = subprocess.run(
        ["git", "-c", "core.excludesFile=.funcignore", "check-ignore", "--no-index", "-q", path],
        cwd=ROOT,
        check=False,
    )
    assert ignored.returncode in (0, 1), ignored  # 128: git could not tell
    return ignored.returncode == 1


def test_the_console_page_and_its_function_are_deployed_and_its_screenshots_are_not():
    assert packaged("triggers/console.html")
    assert packaged("triggers/console.py")
    assert not packaged("docs/console.png")
    assert not packaged(".artefacts/console.png")
    assert not packaged("tests/browser/test_console.py")
