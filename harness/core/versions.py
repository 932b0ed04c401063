"""iOS versions: the one parser and comparator devices.yaml, the `requires` marker, the device
filter and the backends use, so "17" == "17.0" everywhere.

A beta counts as the release it leads to: "18.0b2" (or "18.0 beta 2") compares as 18.0. A phone
running a beta reports the release number as its ProductVersion (the beta is in the build,
22A5282m), so that is also what `requires(ios=">=18")` sees on the phone.
"""

from __future__ import annotations

import re

from harness.core.errors import UsageError

Version = tuple[int, int, int]

# Up to three numbers, then an optional pre-release suffix (b2, beta 2, RC) that is ignored.
# ASCII digits only (\d takes other scripts' digits too), at most six each: a 4,300-digit
# "version" is not one.
_VERSION = re.compile(
    r"\s*([0-9]{1,6})(?:\.([0-9]{1,6}))?(?:\.([0-9]{1,6}))?(?:\s*(?:[abAB]|beta|RC|rc)\s*[0-9]{0,6})?\s*"
)
_SPEC = re.compile(r"\s*(>=|<=|==|!=|>|<)?\s*(.+?)\s*")
_OPS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}


class VersionError(UsageError):
    """Text that is not an iOS version like "17", "17.4" or "18.0b2"."""


def is_version(text: str) -> bool:
    return _VERSION.fullmatch(text) is not None


def version_key(text: str) -> Version:
    """A version padded to three parts: "17" == "17.0" < "17.4" < "17.10"; "18.0b2" is 18.0."""
    m = _VERSION.fullmatch(text)
    if m is None:
        shown = repr(text) if len(text) <= 40 else repr(text[:37] + "...")
        raise VersionError(f'{shown} is not an iOS version like "17", "17.4" or "18.0b2"')
    return (int(m[1]), int(m[2] or 0), int(m[3] or 0))


def major(text: str) -> int | None:
    """The major version, or None when `text` is not a version (a phone that did not say)."""
    return version_key(text)[0] if is_version(text) else None


def compare(have: str, op: str, want: str) -> bool:
    """`have op want` on versions, with op one of >= <= == != > <."""
    return _OPS[op](version_key(have), version_key(want))


def satisfies(version: str, spec: str) -> bool:
    """Whether `version` meets `spec`, a comparison like ">=17" or "<26.1" (bare "17" is >=)."""
    return compare(version, *parse_spec(spec))


def parse_spec(spec: str) -> tuple[str, str]:
    """`spec` as (operator, version); raises `VersionError` saying how to write one."""
    m = _SPEC.fullmatch(spec) if isinstance(spec, str) else None
    if m is None or not is_version(m[2]):
        raise VersionError(
            f"{spec!r} is not a version comparison: write one like '>=17' or '<26.1'"
        )
    return m[1] or ">=", m[2]
