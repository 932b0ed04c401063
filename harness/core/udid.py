"""UDIDs: the one normal form, so devices.yaml, usbmux, tunneld, provisioning profiles and lease
names agree on which phone is meant.

pymobiledevice3 and Apple's developer portal match UDIDs ignoring dashes and case
("00008110-001A..." is "00008110001A..."), so the key drops the dashes and upper-cases.
"""

from __future__ import annotations


def udid_key(udid: str) -> str:
    """The UDID without dashes, upper-case: what two spellings of one phone have in common."""
    return udid.replace("-", "").strip().upper()


def same_udid(a: str, b: str) -> bool:
    return udid_key(a) == udid_key(b)
