"""Integration tier fixtures. pytest refuses `pytest_plugins` in a conftest below the rootdir when
run as `pytest` from the root, so the plugin's fixtures are imported here instead; listing
`tests.support.eventhubs_fixtures` in the root conftest's `pytest_plugins` would do the same."""

from tests.support.eventhubs_fixtures import (  # noqa: F401
    eventhubs_connection_string,
    eventhubs_standin,
)
