"""domain.ids.uuid5 is the standard library's uuid5 as text, whatever the name."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.ids import uuid5

pytestmark = pytest.mark.unit

NAMESPACES = st.sampled_from(
    [uuid.NAMESPACE_URL, uuid.UUID("0b8f4a52-8a57-4a0e-9a7e-6f2d3c1e5b77")]
)


@given(NAMESPACES, st.text())
def test_a_name_based_id_is_the_standard_librarys_uuid5_as_text(namespace, name):
    assert uuid5(namespace, name) == str(uuid.uuid5(namespace, name))


@given(st.uuids())
def test_any_namespace_gives_the_standard_librarys_id(namespace):
    assert uuid5(namespace, "quote-Q1:cmd-1:1") == str(uuid.uuid5(namespace, "quote-Q1:cmd-1:1"))
