"""What the adapters assume of Cosmos DB, asserted through the real SDK: missing items, the
transactional batch, its limits, unique keys, the latest-version change feed. The SDK's own
emulator tests assert the same of the service (azure-sdk-for-python sdk/cosmos/azure-cosmos/tests/
test_transactional_batch.py); here they hold the patched local server (patches/) to it, and run
unchanged against the emulator or an account (COSMOS_ENDPOINT/COSMOS_KEY).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.cosmos import ContainerProxy, PartitionKey
from azure.cosmos.exceptions import (
    CosmosBatchOperationError,
    CosmosHttpResponseError,
    CosmosResourceNotFoundError,
)

pytestmark = pytest.mark.integration
pytest_plugins = ["tests.support.cosmos_fixtures"]


@pytest.fixture(scope="module")
def container(cosmos_database) -> Iterator[ContainerProxy]:
    name = f"protocol-{uuid.uuid4().hex[:8]}"
    yield cosmos_database.create_container(name, PartitionKey("/pk"))
    cosmos_database.delete_container(name)


@pytest.fixture
def pk() -> str:
    return f"p-{uuid.uuid4().hex[:8]}"


def _item(item_id: str, pk: str, **fields: object) -> dict:
    return {"id": item_id, "pk": pk, **fields}


def _ids(container: ContainerProxy, pk: str) -> set[str]:
    query = "SELECT c.id FROM c WHERE c.pk = @pk"  # the local server needs the key in WHERE
    items = container.query_items(query, parameters=[{"name": "@pk", "value": pk}])
    return {item["id"] for item in items}


@pytest.mark.parametrize("action", ["read", "replace", "delete"])
def test_a_missing_item_is_404_not_found(container, pk, action):
    calls = {
        "read": lambda: container.read_item("missing", partition_key=pk),
        "replace": lambda: container.replace_item("missing", _item("missing", pk)),
        "delete": lambda: container.delete_item("missing", partition_key=pk),
    }
    with pytest.raises(CosmosResourceNotFoundError) as raised:
        calls[action]()

    assert raised.value.status_code == 404
    assert raised.value.error is not None
    assert raised.value.error.code == "NotFound"


def test_a_failed_batch_keeps_nothing_and_marks_every_other_operation_424(container, pk):
    container.create_item(_item("taken", pk))
    operations = [
        ("create", (_item("first", pk),)),
        ("create", (_item("taken", pk),)),
        ("create", (_item("third", pk),)),
    ]

    with pytest.raises(CosmosBatchOperationError) as raised:
        container.execute_item_batch(operations, partition_key=pk)

    error = raised.value
    assert (error.status_code, error.error_index) == (409, 1)
    assert [r["statusCode"] for r in error.operation_responses] == [424, 409, 424]
    assert _ids(container, pk) == {"taken"}


@pytest.fixture(scope="module")
def keyed(cosmos_database) -> Iterator[ContainerProxy]:
    """A container whose `/key` is unique per logical partition, as `events` has `/commandKey`."""
    name = f"protocol-keyed-{uuid.uuid4().hex[:8]}"
    policy = {"uniqueKeys": [{"paths": ["/key"]}]}
    yield cosmos_database.create_container(name, PartitionKey("/pk"), unique_key_policy=policy)
    cosmos_database.delete_container(name)


def test_a_batch_repeating_a_unique_key_fails_with_409_and_keeps_nothing(keyed, pk):
    keyed.create_item(_item("a", pk, key="k-1"))
    operations = [
        ("create", (_item("b", pk, key="k-2"),)),
        ("create", (_item("c", pk, key="k-1"),)),  # a new id, a taken key
        ("create", (_item("d", pk, key="k-3"),)),
    ]

    with pytest.raises(CosmosBatchOperationError) as raised:
        keyed.execute_item_batch(operations, partition_key=pk)

    error = raised.value
    assert (error.status_code, error.error_index) == (409, 1)
    assert [r["statusCode"] for r in error.operation_responses] == [424, 409, 424]
    assert _ids(keyed, pk) == {"a"}
    # Rolled back whole: the keys of the undone creates are free again.
    keyed.execute_item_batch(operations[::2], partition_key=pk)
    assert _ids(keyed, pk) == {"a", "b", "d"}


def test_a_unique_key_is_unique_only_within_its_logical_partition(keyed, pk):
    keyed.create_item(_item("a", pk, key="k-1"))

    keyed.execute_item_batch([("create", (_item("a", f"{pk}-other", key="k-1"),))],
                             partition_key=f"{pk}-other")  # fmt: skip

    with pytest.raises(CosmosHttpResponseError) as raised:
        keyed.create_item(_item("b", pk, key="k-1"))
    assert raised.value.status_code == 409


def test_a_batch_reads_replaces_upserts_and_deletes_within_its_partition(container, pk):
    container.create_item(_item("old", pk, version=1))
    container.create_item(_item("gone", pk))
    operations = [
        ("read", ("old",)),
        ("replace", ("old", _item("old", pk, version=2))),
        ("upsert", (_item("new", pk),)),
        ("delete", ("gone",)),
    ]

    results = container.execute_item_batch(operations, partition_key=pk)

    assert [r["statusCode"] for r in results] == [200, 200, 201, 204]
    assert results[0]["resourceBody"]["version"] == 1
    assert container.read_item("old", partition_key=pk)["version"] == 2
    assert _ids(container, pk) == {"old", "new"}


def test_a_batch_reading_a_missing_item_fails_with_404_and_writes_nothing(container, pk):
    operations = [("create", (_item("written", pk),)), ("read", ("missing",))]

    with pytest.raises(CosmosBatchOperationError) as raised:
        container.execute_item_batch(operations, partition_key=pk)

    assert [r["statusCode"] for r in raised.value.operation_responses] == [424, 404]
    with pytest.raises(CosmosResourceNotFoundError):
        container.read_item("written", partition_key=pk)


def test_a_batch_of_101_operations_is_refused_with_400(container, pk):
    operations = [("create", (_item(f"i{n}", pk),)) for n in range(101)]

    with pytest.raises(CosmosHttpResponseError) as raised:
        container.execute_item_batch(operations, partition_key=pk)

    assert raised.value.status_code == 400
    assert "more operations than what is supported" in raised.value.message


def test_a_batch_over_2_mb_is_an_http_413_not_a_batch_operation_error(container, pk):
    operations = [("create", (_item(f"i{n}", pk, blob="x" * 800_000),)) for n in range(3)]

    with pytest.raises(CosmosHttpResponseError) as raised:
        container.execute_item_batch(operations, partition_key=pk)

    assert not isinstance(raised.value, CosmosBatchOperationError)
    assert raised.value.status_code == 413
    assert raised.value.error is not None
    assert raised.value.error.code == "RequestEntityTooLarge"
    assert _ids(container, pk) == set()


def _changes(container, **start) -> tuple[list[dict], str]:
    """The changes, and the token to resume from: the SDK leaves it in the last response's
    etag header, also when nothing changed (by_page has no token after a 304 only).
    https://learn.microsoft.com/azure/cosmos-db/nosql/change-feed-pull-model"""
    documents = list(container.query_items_change_feed(**start))
    return documents, container.client_connection.last_response_headers["etag"]


def test_the_change_feed_resumes_after_its_continuation_with_each_change_once(cosmos_database):
    # A container of its own: the feed is read whole, as the Functions trigger reads it.
    feed = cosmos_database.create_container(f"feed-{uuid.uuid4().hex[:8]}", PartitionKey("/pk"))
    try:
        feed.create_item(_item("a", "p", version=1))
        feed.create_item(_item("b", "p"))
        first, token = _changes(feed, start_time="Beginning")
        feed.replace_item("a", _item("a", "p", version=2))
        feed.create_item(_item("c", "p"))
        feed.delete_item("b", partition_key="p")
        later, token = _changes(feed, continuation=token)
        quiet, _ = _changes(feed, continuation=token)
    finally:
        cosmos_database.delete_container(feed.id)

    assert [d["id"] for d in first] == ["a", "b"]
    # Latest version only: `a` once, as replaced; the delete of `b` is not in it.
    assert [(d["id"], d.get("version")) for d in later] == [("a", 2), ("c", None)]
    assert quiet == []


def test_the_change_feed_from_now_holds_only_later_changes_in_pages_of_the_asked_size(
    cosmos_database,
):
    feed = cosmos_database.create_container(f"feed-{uuid.uuid4().hex[:8]}", PartitionKey("/pk"))
    try:
        feed.create_item(_item("before", "p"))
        _, token = _changes(feed, start_time="Now")
        for n in range(5):
            feed.create_item(_item(f"after-{n}", "p"))
        pages = feed.query_items_change_feed(continuation=token, max_item_count=2).by_page()
        page_ids = [[d["id"] for d in page] for page in pages]
    finally:
        cosmos_database.delete_container(feed.id)

    assert page_ids == [["after-0", "after-1"], ["after-2", "after-3"], ["after-4"]]
