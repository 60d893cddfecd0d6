"""Root conftest: kept minimal; tier-specific fixtures live beside their tests."""

import os

from hypothesis import settings

# In CI (`.ci/run` sets CI=1) property tests draw the same examples every run, so a landing is
# never decided by chance; locally they draw new ones each run, to keep finding bugs.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
