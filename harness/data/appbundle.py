"""What an app bundle tells the harness: identity, permitted task identifiers, background modes.

`read_app` accepts what a user has at hand: an `.ipa`, an `.app` folder, or a bare `Info.plist`
(or a folder holding one). `assemble_ipa` packs a bare Info.plist into a minimal, deterministic
`.ipa` so the virtual iPhone installs through the same reading path as a real device.
Every problem is an `AppError` naming the path and the fix. Standard library only.

The identifier rules mirror iOS 26.1's `_BGTaskIdentifierRegistry` (decompiled 26.1, see
facts B3 and B7): plist entries longer than 128 UTF-16 units are dropped;
an entry containing `.*` must end with it, hold it once and start with the bundle id, else it is
dropped; a concrete identifier matches a wildcard `<prefix>.*` when it starts with `<prefix>.`
and has something after the dot.
"""

from __future__ import annotations

import hashlib
import io
import os
import plistlib
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import IO, Any

from harness.core.errors import AppError

# `initWithContentsFromPlist` drops entries with `length >= 0x81` and the composed-notation check
# allows `length <= 0x80`, although the log text says "must be less than 128 characters".
MAX_IDENTIFIER_LENGTH = 128
WILDCARD = ".*"

_PLIST = "Info.plist"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # earliest zip timestamp: fixed so output is byte-identical
_CHUNK = 1 << 20


@dataclass(frozen=True)
class AppInfo:
    """One app bundle as iOS sees it; equal bundles compare equal however they were packaged."""

    bundle_id: str
    executable: str
    version: str
    build: str
    permitted_identifiers: tuple[str, ...]
    background_modes: frozenset[str]
    min_os: str
    plist: Mapping[str, Any] = field(repr=False, hash=False)
    content_hash: str

    def permits(self, identifier: str, wildcard: bool = True) -> bool:
        """Whether iOS lets the app register or submit `identifier` (a concrete id, never `.*`).

        `wildcard=False` asks for a refresh or processing request: a `.*` entry permits
        continued tasks only (facts B3, B7).
        """
        if WILDCARD in identifier or _ns_length(identifier) > MAX_IDENTIFIER_LENGTH:
            return False
        kept = self._kept_entries()
        if identifier in kept:
            return True
        if not wildcard:
            return False
        bases = {entry[: -len(WILDCARD)] + "." for entry in kept if WILDCARD in entry}
        return identifier not in bases and any(identifier.startswith(b) for b in bases)

    def invalid_identifier_entries(self) -> list[tuple[str, str]]:
        """(entry, why) for each plist entry iOS drops at launch, for a preflight warning."""
        found = []
        for entry in self.permitted_identifiers:
            why = _drop_reason(entry, self.bundle_id)
            if why:
                found.append((entry, why))
        return found

    def _kept_entries(self) -> tuple[str, ...]:
        """The entries iOS keeps in its registry after dropping invalid ones."""
        return tuple(e for e in self.permitted_identifiers if not _drop_reason(e, self.bundle_id))


def read_app(path: Path) -> AppInfo:
    """Read an `.ipa`, an `.app` folder or an Info.plist (or a folder holding one)."""
    path = Path(path)
    if not path.exists():
        raise _error(path, "not found", "pass the path of an .ipa, an .app folder or an Info.plist")
    if path.is_dir() and path.suffix.lower() == ".app":
        return _read_app_dir(path)
    if path.is_file() and path.suffix.lower() in (".ipa", ".zip"):
        return _read_ipa(path)
    data = _plist_file(path).read_bytes()
    return _app_info(_parse_plist(data, path, _PLIST), hashlib.sha256(data).hexdigest(), path)


def assemble_ipa(plist_path: Path, out_dir: Path) -> Path:
    """Pack an Info.plist into `out_dir/<CFBundleExecutable>.ipa`, byte-identical for equal input.

    The .ipa holds `Payload/<exe>.app/Info.plist` and an empty placeholder executable; an existing
    identical file is left alone (its mtime too), a different one is replaced atomically.
    """
    plist_file = _plist_file(Path(plist_path))
    data = plist_file.read_bytes()
    executable = _app_info(_parse_plist(data, plist_file, _PLIST), "", plist_file).executable
    if not executable or executable in (".", "..") or any(c in executable for c in "/\\\0"):
        raise _error(
            plist_file,
            f"CFBundleExecutable {executable!r} is not a file name",
            "set CFBundleExecutable to the app's executable name (EXECUTABLE_NAME in Xcode)",
        )
    blob = _ipa_bytes(executable, data)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{executable}.ipa"
    if target.is_file() and target.read_bytes() == blob:
        return target
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=f".{executable}.", suffix=".ipa.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; an .ipa is an ordinary readable file
        os.replace(tmp, target)  # atomic, so parallel workers never see half a file
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# --- identifier rules -------------------------------------------------------------------------


def _ns_length(text: str) -> int:
    """NSString `length`: UTF-16 code units, which is what iOS compares with 128."""
    return len(text.encode("utf-16-le")) // 2


def _drop_reason(entry: str, bundle_id: str) -> str | None:
    """Why iOS drops this BGTaskSchedulerPermittedIdentifiers entry, or None if it keeps it."""
    if _ns_length(entry) > MAX_IDENTIFIER_LENGTH:
        return (
            f"{_ns_length(entry)} characters, over iOS's limit of {MAX_IDENTIFIER_LENGTH} "
            "(iOS logs 'Identifier is too long')"
        )
    if WILDCARD not in entry:
        return None
    why = None
    if not entry.endswith(WILDCARD):
        why = f"a wildcard entry must end with '{WILDCARD}'"
    elif entry.count(WILDCARD) > 1:
        why = f"a wildcard entry may contain '{WILDCARD}' only once"
    elif not entry.startswith(bundle_id):
        why = f"a wildcard entry must start with the bundle id {bundle_id}"
    if why is None:
        return None
    return f"{why}, as in {bundle_id}.<context>.* (iOS logs 'Invalid identifier form')"


# --- reading ----------------------------------------------------------------------------------


def _error(path: Path, problem: str, fix: str) -> AppError:
    return AppError(f"{path}: {problem}; {fix}")


def _plist_file(path: Path) -> Path:
    """The Info.plist a plain file or a non-.app folder stands for."""
    if not path.exists():
        raise _error(path, "not found", "pass the path of an .ipa, an .app folder or an Info.plist")
    if not path.is_dir():
        return path
    if (path / _PLIST).is_file():
        return path / _PLIST
    raise _error(path, f"no {_PLIST} in this folder", "pass an .ipa, an .app or an Info.plist")


def _parse_plist(data: bytes, path: Path, member: str) -> dict[str, Any]:
    """XML or binary plist to a dict; anything else is an AppError naming where it came from."""
    try:
        value = plistlib.loads(data)
    except Exception as exc:  # plistlib raises many types on malformed input; all mean "bad plist"
        raise _error(
            path, f"{member} is not a valid plist ({exc})", "check it with `plutil -lint`"
        ) from exc
    if not isinstance(value, dict):
        raise _error(path, f"{member} holds a {type(value).__name__}, not a dictionary", "check it")
    return value


def _app_info(plist: dict[str, Any], content_hash: str, path: Path) -> AppInfo:
    """Pick out and type-check the keys the harness uses."""
    bundle_id = _text(plist, "CFBundleIdentifier", path)
    if not bundle_id:
        raise _error(
            path,
            "Info.plist has no CFBundleIdentifier",
            "set it (PRODUCT_BUNDLE_IDENTIFIER in Xcode) or pass the built .app or .ipa",
        )
    return AppInfo(
        bundle_id=bundle_id,
        executable=_text(plist, "CFBundleExecutable", path),
        version=_text(plist, "CFBundleShortVersionString", path),
        build=_text(plist, "CFBundleVersion", path),
        permitted_identifiers=_texts(plist, "BGTaskSchedulerPermittedIdentifiers", path),
        background_modes=frozenset(_texts(plist, "UIBackgroundModes", path)),
        min_os=_text(plist, "MinimumOSVersion", path),
        plist=MappingProxyType(plist),
        content_hash=content_hash,
    )


def _check_text(value: str, key: str, path: Path) -> str:
    """Refuse an unexpanded Xcode build setting: it means a source plist, not a built one."""
    if "$(" in value or "${" in value:
        raise _error(
            path,
            f"{key} holds the unexpanded build setting {value!r}",
            "pass the built .app or .ipa, or write the expanded value",
        )
    return value


def _text(plist: dict[str, Any], key: str, path: Path) -> str:
    value = plist.get(key, "")
    if not isinstance(value, str):
        raise _error(path, f"{key} is not a string ({value!r})", f"make {key} a string")
    return _check_text(value, key, path)


def _texts(plist: dict[str, Any], key: str, path: Path) -> tuple[str, ...]:
    value = plist.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(path, f"{key} is not an array of strings", f"make {key} an array of strings")
    return tuple(_check_text(v, key, path) for v in value)


def _read_app_dir(path: Path) -> AppInfo:
    """An .app folder: Info.plist at its root; the hash covers every file in it."""
    plist_file = path / _PLIST
    if not plist_file.is_file():
        raise _error(path, f"missing {_PLIST}", "build the app with Xcode, which writes it")
    files = sorted((p.relative_to(path).as_posix(), p) for p in path.rglob("*") if p.is_file())
    digest = _content_hash((rel, p.stat().st_size, p.open("rb")) for rel, p in files)
    return _app_info(_parse_plist(plist_file.read_bytes(), path, _PLIST), digest, path)


def _read_ipa(path: Path) -> AppInfo:
    """An .ipa: exactly one Payload/<Name>.app with an Info.plist; the hash ignores zip metadata."""
    fix = "export the .ipa again from Xcode (Product > Archive > Distribute) or pass the .app"
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            apps = sorted(
                {
                    parts[1]
                    for parts in (PurePosixPath(i.filename).parts for i in infos)
                    if len(parts) > 2 and parts[0] == "Payload" and parts[1].endswith(".app")
                }
            )
            if not apps:
                raise _error(path, "no Payload/<Name>.app/ inside", fix)
            if len(apps) > 1:
                raise _error(path, f"more than one app in Payload: {', '.join(apps)}", fix)
            prefix = f"Payload/{apps[0]}/"
            member = prefix + _PLIST
            if member not in zf.NameToInfo:
                raise _error(path, f"missing {member}", fix)
            plist = _parse_plist(zf.read(member), path, member)
            members = sorted(
                (i.filename[len(prefix) :], i) for i in infos if i.filename.startswith(prefix)
            )
            digest = _content_hash((rel, i.file_size, zf.open(i)) for rel, i in members)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise _error(path, f"not a readable zip archive ({exc})", fix) from exc
    return _app_info(plist, digest, path)


def _content_hash(files: Iterable[tuple[str, int, IO[bytes]]]) -> str:
    """sha256 over (relative path, size, bytes) in sorted order: packaging-independent."""
    digest = hashlib.sha256()
    for rel, size, stream in files:
        digest.update(rel.encode("utf-8") + b"\0" + size.to_bytes(8, "big"))
        with stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


# --- writing ----------------------------------------------------------------------------------


def _ipa_bytes(executable: str, plist_data: bytes) -> bytes:
    """The zip bytes: sorted members, fixed timestamps and modes, stored (no compressor drift)."""
    app = f"Payload/{executable}.app/"
    entries: list[tuple[str, bytes | None, int]] = [
        ("Payload/", None, 0o755),
        (app, None, 0o755),
        (app + executable, b"", 0o755),
        (app + _PLIST, plist_data, 0o644),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for name, data, mode in sorted(entries, key=lambda e: e[0]):
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.create_system = 3  # Unix, so the mode bits below mean what they say
            kind = stat.S_IFDIR if data is None else stat.S_IFREG
            info.external_attr = (kind | mode) << 16 | (0x10 if data is None else 0)
            zf.writestr(info, data or b"")
    return buffer.getvalue()
