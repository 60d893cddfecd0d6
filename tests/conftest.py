"""Root conftest: kept minimal; tier-specific fixtures live beside their tests."""
