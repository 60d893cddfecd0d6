"""Name-based ids: `uuid5(namespace, name)` as text, the same string `str(uuid.uuid5(...))`
gives, without building a UUID object (its int arithmetic and formatting cost more than the
SHA-1 itself, and every event, command and saga step derives several of these)."""

from __future__ import annotations

import hashlib
import uuid


def uuid5(namespace: uuid.UUID, name: str) -> str:
    """RFC 4122 version 5 (as uuid.uuid5): SHA-1 of namespace and name, version and variant
    bits set, in the 8-4-4-4-12 form."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # the RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
