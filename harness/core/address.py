"""HOST:PORT addresses: the one parser for devices.yaml's `usbmux:`/`tunnel:` and the
debugserver endpoint lldb connects to.

An IPv6 address goes in brackets, `[fd7b:e2f::1]:58783`, as in a URL; without them the last
colon would be ambiguous. Only host-name and address characters pass, so nothing but an address
reaches lldb's command line.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from harness.core.errors import UsageError

_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_IPV6 = re.compile(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*")
_PORT = re.compile(r"[0-9]{1,5}")  # ASCII digits only: str.isdigit() and int() take '٢٧٠١٥' too
_ADDRESS = re.compile(r"\[(?P<v6>[^\]]*)\]:(?P<port>[^:]*)|(?P<host>[^:\[\]]*):(?P<port2>[^:]*)")


class AddressError(UsageError):
    """Text that is not HOST:PORT or [IPv6]:PORT."""


class Address(NamedTuple):
    """A TCP endpoint; a tuple so it can go straight to pymobiledevice3's `tunneld_address`."""

    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str, default_port: int | None = None, what: str = "") -> Address:
    """`HOST:PORT` or `[IPv6]:PORT` (`HOST` alone when there is a default port) as an Address;
    raises `AddressError` saying what is wrong (`what` the address is for), for the caller to say
    where."""
    if default_port is not None and ":" not in text.rsplit("]", 1)[-1]:
        text = f"{text}:{default_port}"
    m = _ADDRESS.fullmatch(text)
    if m is None:
        of = f" of {what}" if what else ""
        raise AddressError(f"expected HOST:PORT{of} (or [IPv6]:PORT), got {_shown(text)}")
    v6 = m["v6"] is not None
    host, port = (m["v6"], m["port"]) if v6 else (m["host"], m["port2"])
    if not (_IPV6.fullmatch(host) if v6 else _HOSTNAME.fullmatch(host)):
        what = "an IPv6 address" if v6 else "a host name or IPv4 address"
        raise AddressError(f"{host!r} is not {what} (in {_shown(text)})")
    if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
        shown = port if len(port) <= 12 else port[:9] + "..."
        raise AddressError(f"port {shown} is out of range 1-65535 (in {_shown(text)})")
    return Address(host, int(port))


def _shown(text: str, limit: int = 60) -> str:
    """`text` quoted for a message, cut to a readable length (a 4,300-digit port is not)."""
    return repr(text) if len(text) <= limit else repr(text[: limit - 3] + "...")
