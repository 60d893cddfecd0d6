"""The local host: runs function_app.py's functions the way the Azure Functions host does,
over SQLite (store, change feed, hub logs) instead of Cosmos DB and Event Hubs. See
docs/devhost.md; run as `python -m devhost`."""
