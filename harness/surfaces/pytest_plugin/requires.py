"""The `requires` marker: what a test needs of a device, checked when pytest collects it.

`@pytest.mark.requires(ios=">=17", tags=["wda"], backend="ios")` skips the test on a device that
does not match. The marker's arguments are validated against `requires`'s signature at
collection (as labgrid does for `lg_feature`), so a typo is a one-line usage error naming the
signature, not a test that runs where it should not, or a pytest INTERNALERROR.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.errors import UsageError
from harness.core.versions import VersionError, parse_spec, satisfies
from harness.data.inventory import BACKENDS, DeviceRecord


@dataclass(frozen=True)
class Requirement:
    """A validated `requires` marker."""

    ios: str | None = None
    tags: tuple[str, ...] = ()
    backend: str | None = None

    def unmet(self, record: DeviceRecord) -> str | None:
        """Why `record` does not meet this requirement, or None."""
        if self.backend is not None and record.backend != self.backend:
            return f"needs backend {self.backend}, this is {record.backend}"
        missing = [t for t in self.tags if t not in record.tags]
        if missing:
            return f"needs tags {missing}, has {list(record.tags)}"
        if self.ios is not None:
            if record.ios is None:
                return f"needs iOS {self.ios}; devices.yaml does not say which iOS this device runs"
            if not satisfies(record.ios, self.ios):
                return f"needs iOS {self.ios}, runs {record.ios}"
        return None


def requires(
    *, ios: str | None = None, tags: Sequence[str] = (), backend: str | None = None
) -> Requirement:
    """The marker's signature: keyword arguments only."""
    where = f"requires{SIGNATURE}"
    if ios is not None:
        try:
            parse_spec(ios)
        except VersionError as exc:
            raise UsageError(f"{where}: ios={ios!r}: {exc}") from None
    if isinstance(tags, str):
        raise UsageError(f"{where}: tags= takes a list of tags, like tags=[{tags!r}], got {tags!r}")
    if not isinstance(tags, Iterable) or not all(isinstance(t, str) for t in tags):
        raise UsageError(f"{where}: tags= takes a list of tag names, got {tags!r}")
    if backend is not None and backend not in BACKENDS:
        raise UsageError(f"{where}: backend={backend!r} is not one of {', '.join(BACKENDS)}")
    return Requirement(ios, tuple(tags), backend)


_PARAMETERS = inspect.signature(requires).parameters
SIGNATURE = "(" + ", ".join(f"{p.name}={p.default!r}" for p in _PARAMETERS.values()) + ")"


def from_marker(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Requirement:
    """A `requires` marker's arguments as a Requirement; a `UsageError` with the signature (and
    a did-you-mean for a misspelt keyword) when they do not fit."""
    known = list(_PARAMETERS)
    for name in kwargs:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {near[0]}=?" if near else ""
            raise UsageError(f"requires{SIGNATURE}: unknown argument {name}={kwargs[name]!r}{hint}")
    if args:
        first = args[0]
        hint = (
            f" (write requires(ios={first!r}))" if isinstance(first, str) and _spec(first) else ""
        )
        raise UsageError(
            f"requires{SIGNATURE}: takes keyword arguments only, "
            f"got {', '.join(map(repr, args))}{hint}"
        )
    return requires(**kwargs)


def _spec(text: str) -> bool:
    try:
        parse_spec(text)
    except VersionError:
        return False
    return True
