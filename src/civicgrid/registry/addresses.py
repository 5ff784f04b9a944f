"""Standard addresses: normalisation and the stable keys that make imports idempotent."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC (full-width digits and letters to half-width), trimmed, inner whitespace removed, upper case."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", text or "")).upper()


def building_key(community_code: str, road: str, door_number: str, name: str) -> str:
    raw = "|".join([community_code, normalise(road), normalise(door_number), normalise(name)])
    return hashlib.sha1(raw.encode("utf-8"), usedforsecurity=False).hexdigest()


def house_key(building_key_: str, room: str) -> str:
    raw = f"{building_key_}|{normalise(room)}"
    return hashlib.sha1(raw.encode("utf-8"), usedforsecurity=False).hexdigest()


def is_guangzhou(region_code: str) -> bool:
    """Household registration in Guangzhou (4401xx); anyone else living here is a 来穗人员."""
    return region_code.startswith("4401")
