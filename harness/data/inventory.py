"""devices.yaml → validated, frozen records: which devices the lab has and how to reach them.

Pure except for reading the file and checking that app paths exist. The YAML is composed, not
loaded, so every mistake is reported as one `InventoryError` naming file, line and field (an
unknown key is an error, never dropped). Schema (devices.yaml at the repo root has examples):

    apps:                       # optional; name → entry
      NAME: {path: PATH}        # an .ipa, an .app folder or an Info.plist; relative to this file
        signing: development|release  # optional, default development; release: no
                                #   get-task-allow, so trigger/expire refuse it (organic only)
    devices:                    # required, at least one
      - name: NAME              # required, unique, [A-Za-z0-9._-]+
        backend: virtual|ios    # required
        model: iPhone17,3       # optional ProductType
        ios: "26.1"             # optional; taken as written, so 17.10 stays "17.10"
        tags: [TAG, ...]        # optional
        apps: [NAME, ...]       # optional; default: every app
        host: NAME              # optional: the lab Mac it is plugged into (its CI runner
                                #   label); `bgharness matrix` groups jobs by it
        udid: UDID              # ios: required
        usbmux: HOST:PORT       # ios: a remote usbmuxd; default: this Mac's
        tunnel: tunneld[@HOST:PORT]   # ios 17+: the tunneld serving RSD; default 127.0.0.1:49151
        wda: URL                # ios: WebDriverAgent (Home, force-quit, unlock)
        unlock: true|false      # ios: no passcode, the harness may unlock it
        time_scale: 0           # virtual: 0 = the clock jumps (default), 1 = real time

`Inventory.select` picks devices by name and by a filter expression (harness.data.device_filter).

Top-level keys starting with `x-` are ignored: they hold `&anchors` that devices merge with
`<<: *name`, so a lab can share settings between phones.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn, TypeVar
from urllib.parse import urlsplit

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.core.address import Address, AddressError, parse_address
from harness.core.errors import InventoryError, UsageError
from harness.core.udid import same_udid
from harness.core.versions import is_version, version_key

__all__ = [
    "Address",
    "AppEntry",
    "DeviceRecord",
    "Inventory",
    "load_inventory",
    "version_key",
]

T = TypeVar("T")
Backend = Literal["virtual", "ios"]
BACKENDS: tuple[Backend, ...] = ("virtual", "ios")
TUNNELD_DEFAULT_PORT = 49151

_TOP_KEYS = ("apps", "devices")
_APP_KEYS = ("path", "signing")
SIGNINGS = ("development", "release")
_COMMON_KEYS = ("name", "backend", "model", "ios", "tags", "apps", "host")
_BACKEND_KEYS: dict[str, tuple[str, ...]] = {
    "ios": ("udid", "usbmux", "tunnel", "wda", "unlock"),
    "virtual": ("time_scale", "stall_tolerance_s"),
}
_DEVICE_KEYS = _COMMON_KEYS + _BACKEND_KEYS["ios"] + _BACKEND_KEYS["virtual"]

_TAG = "tag:yaml.org,2002:"
_WORD = re.compile(r"[A-Za-z0-9._-]+")
_KEYWORDS = frozenset({"and", "or", "not"})
_MODEL = re.compile(r"[A-Za-z]+[0-9]+,[0-9]+")
_UDID = re.compile(r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{16}|[0-9A-Fa-f]{40}")
# A lab inventory is a few levels deep; PyYAML recurses per level, so far deeper is refused
# before it overflows the stack. Merges (`<<: *defaults`) may copy this many mappings in all:
# chained merges grow exponentially (a 694-byte file took 201 s).
_MAX_DEPTH = 200
_MAX_MERGES = 1000
_UDID_HINT = "find it with `pymobiledevice3 usbmux list`"
_TUNNELD_HINT = "start it with `sudo pymobiledevice3 remote tunneld`"


@dataclass(frozen=True)
class AppEntry:
    """An app the harness can install; `path` is absolute and existed when the file was loaded."""

    name: str
    path: Path
    line: int
    signing: str = "development"  # "release": no get-task-allow, no debugger bridge

    @property
    def debuggable(self) -> bool:
        return self.signing != "release"

    @property
    def kind(self) -> Literal["ipa", "app", "plist"]:
        """What the path is: only a built `ipa` or `app` installs on a real iPhone."""
        suffix = self.path.suffix.lower()
        return "ipa" if suffix == ".ipa" else "app" if suffix == ".app" else "plist"


@dataclass(frozen=True)
class DeviceRecord:
    """One device of devices.yaml, validated; `line` is where it starts, for later messages.

    `usbmux` None means this Mac's usbmuxd; `tunnel` is the tunneld to ask for an iOS 17+ RSD.
    `unlock` is always True for the virtual iPhone, which has no passcode to get past.
    """

    name: str
    backend: Backend
    model: str | None = None
    ios: str | None = None
    tags: tuple[str, ...] = ()
    apps: tuple[str, ...] = ()
    host: str | None = None
    udid: str | None = None
    usbmux: Address | None = None
    tunnel: Address | None = None
    wda: str | None = None
    unlock: bool = False
    time_scale: float = 0.0
    stall_tolerance_s: tuple[float, float] | None = None  # virtual: facts B3 [M], a range
    line: int = 0


@dataclass(frozen=True)
class Inventory:
    """The loaded devices.yaml: devices in file order and apps by name."""

    devices: tuple[DeviceRecord, ...]
    apps: dict[str, AppEntry]
    path: Path

    def select(
        self, names: Sequence[str] = (), filter_expr: str | None = None
    ) -> list[DeviceRecord]:
        """The devices named (in the order given; all when none), then those matching the filter.

        Both come from the user (`--device`, `--device-filter`), so mistakes are UsageErrors.
        """
        by_name = {device.name: device for device in self.devices}
        names = (names,) if isinstance(names, str) else names
        for name in names:
            if name not in by_name:
                raise UsageError(
                    f"no device named {name!r} in {self.path}{_did_you_mean(name, by_name)};"
                    f" known: {', '.join(by_name)}"
                )
        chosen = [by_name[name] for name in dict.fromkeys(names)] if names else list(self.devices)
        if filter_expr is None or not filter_expr.strip():
            return chosen
        from harness.data.device_filter import parse_filter  # it imports this module

        matches = parse_filter(filter_expr)
        return [device for device in chosen if matches(device)]


def load_inventory(path: str | Path) -> Inventory:
    """Read and validate devices.yaml; a user mistake is one InventoryError, never a traceback."""
    file = Path(path)
    shown = _shown(file)
    try:
        root = _compose(_read(file, shown), shown)
        return _Walker(shown, file.absolute().parent).inventory(root, file)
    except RecursionError:
        raise InventoryError(
            shown, None, "", f"nested deeper than a lab inventory needs (over {_MAX_DEPTH} levels)"
        ) from None


def _shown(file: Path) -> str:
    """How messages name the file: relative to the cwd when inside it (short, clickable)."""
    try:
        return str(file.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(file)


def _read(file: Path, shown: str) -> str:
    """The file's text, or an InventoryError that says how to get a usable file."""
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise InventoryError(
            shown,
            None,
            "",
            "no such file; copy devices.yaml from the bgharness repo root, or point --devices at"
            " your inventory",
        ) from None
    except IsADirectoryError:
        raise InventoryError(shown, None, "", "is a folder; point --devices at a file") from None
    except OSError as exc:
        raise InventoryError(shown, None, "", f"cannot read it: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InventoryError(shown, line, "", "not UTF-8 text; save it as UTF-8") from None


def _compose(text: str, shown: str) -> Node | None:
    """The YAML node tree (it keeps line numbers); a syntax error names the line PyYAML marks."""
    if _too_deep(text):
        raise RecursionError  # PyYAML recurses once per level; refused before it does
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(exc.problem or exc.context or "not valid YAML").split())
        if "'\\t'" in problem:
            problem += " (indent with spaces, not tabs)"
        elif "<block" in problem or "expected ':'" in problem:
            problem += " (check the indentation of this line and the one before)"
        raise InventoryError(
            shown, mark.line + 1 if mark else None, "", f"YAML: {problem}"
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise InventoryError(shown, line, "", f"YAML: {exc.reason}") from None


def _too_deep(text: str) -> bool:
    """Nesting beyond _MAX_DEPTH, by flow brackets or by indentation (a bracket inside a quoted
    string counts too: harmless at this bound)."""
    depth = 0
    for found in re.finditer(r"[\[\]{}]", text):
        depth = depth + 1 if found[0] in "[{" else max(0, depth - 1)
        if depth > _MAX_DEPTH:
            return True
    indents = (len(line) - len(line.lstrip(" -")) for line in text.splitlines())
    return max(indents, default=0) > 2 * _MAX_DEPTH


def _did_you_mean(word: str, known: Iterable[str]) -> str:
    """`, did you mean 'x'?` for a near miss, else nothing."""
    close = difflib.get_close_matches(word, list(known), n=1)
    return f", did you mean {close[0]!r}?" if close else ""


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _what(node: Node) -> str:
    """What a node holds, in the words of a type error."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if not node.tag.startswith(_TAG) or node.tag not in _TEXT_TAGS:
        return f"a value tagged {node.tag.replace(_TAG, '!!')}"
    names = {"null": "nothing", "bool": "true/false", "int": "a number", "float": "a number"}
    return names.get(node.tag.removeprefix(_TAG), "a string")


class _Walker:
    """Walks the node tree of one file; `fail` turns a node into file:line and field."""

    def __init__(self, shown: str, base: Path):
        self.shown, self.base = shown, base
        self.merges = 0  # mappings merged in so far, against _MAX_MERGES

    def fail(self, node: Node | None, field: str, problem: str) -> NoReturn:
        raise InventoryError(self.shown, _line(node) if node else None, field, problem)

    def inventory(self, root: Node | None, file: Path) -> Inventory:
        if root is None or (isinstance(root, ScalarNode) and root.tag == _TAG + "null"):
            self.fail(
                None,
                "",
                "the file is empty; it needs a `devices:` list (devices.yaml at the bgharness repo"
                " root is an example)",
            )
        top = self.mapping(root, "", _TOP_KEYS, "a mapping with `apps:` and `devices:`")
        apps = self.apps(top["apps"][1], "apps") if "apps" in top else {}
        if "devices" not in top:
            self.fail(root, "devices", "missing; add a `devices:` list with at least one device")
        key, seq = top["devices"]
        if not isinstance(seq, SequenceNode):
            self.fail(seq, "devices", f"expected a list of devices, got {_what(seq)}")
        if not seq.value:
            self.fail(key, "devices", "the list is empty; add at least one device")
        devices: list[DeviceRecord] = []
        for index, node in enumerate(seq.value):
            devices.append(self.device(node, f"devices[{index}]", apps, devices))
        return Inventory(devices=tuple(devices), apps=apps, path=file)

    def mapping(
        self, node: Node, field: str, known: Sequence[str] | None, expected: str
    ) -> dict[str, tuple[ScalarNode, Node]]:
        """Key → (key node, value node); `<<` merges applied, unknown and duplicate keys refused.

        `known` None takes any key (the names of `apps:`). At the top, `x-` keys are allowed and
        ignored: they hold `&anchors` for devices to merge, as in docker compose files.
        """
        if not isinstance(node, MappingNode):
            self.fail(node, field, f"expected {expected}, got {_what(node)}")
        pairs = self.pairs(node, field, set())
        for name, (key, _) in pairs.items():
            if known is not None and name not in known and not (field == "" and name[:2] == "x-"):
                extra = " (and x-NAME keys for anchors)" if field == "" else ""
                hint = _did_you_mean(name, known) or f"; known keys: {', '.join(known)}{extra}"
                self.fail(key, _join(field, name), f"unknown key{hint}")
        return pairs

    def pairs(
        self, node: MappingNode, field: str, seen: set[int]
    ) -> dict[str, tuple[ScalarNode, Node]]:
        """A mapping's own keys, then those merged in with `<<: *anchor` that it does not set."""
        if id(node) in seen:
            self.fail(node, field, "an anchor merges itself")
        own: dict[str, tuple[ScalarNode, Node]] = {}
        merged: list[dict[str, tuple[ScalarNode, Node]]] = []
        for key, value in node.value:
            if key.tag == _TAG + "merge":
                for source in value.value if isinstance(value, SequenceNode) else [value]:
                    if not isinstance(source, MappingNode):
                        self.fail(key, field, "`<<` must merge a mapping, like `<<: *defaults`")
                    self.merges += 1
                    if self.merges > _MAX_MERGES:
                        self.fail(
                            key,
                            field,
                            f"more than {_MAX_MERGES} merges (`<<`) in the file: merge each "
                            "device's defaults once, not merges of merges",
                        )
                    merged.append(self.pairs(source, field, seen | {id(node)}))
                continue
            if not isinstance(key, ScalarNode) or not key.value:
                self.fail(key, field, "a key must be a plain word")
            if key.value in own:
                first = _line(own[key.value][0])
                self.fail(key, _join(field, key.value), f"duplicate key (first on line {first})")
            own[key.value] = (key, value)
        for more in merged:
            for name, pair in more.items():
                own.setdefault(name, pair)
        return own

    def apps(self, node: Node, field: str) -> dict[str, AppEntry]:
        entries = self.mapping(node, field, None, "a mapping of app name → {path: ...}")
        return {name: self.app(name, key, value, field) for name, (key, value) in entries.items()}

    def app(self, name: str, key: ScalarNode, node: Node, field: str) -> AppEntry:
        field = _join(field, name)
        if not _WORD.fullmatch(name):
            self.fail(key, field, "an app name may use only letters, digits, '.', '_' and '-'")
        keys = self.mapping(node, field, _APP_KEYS, "a mapping like {path: MyApp.ipa}")
        if "path" not in keys:
            self.fail(
                node, _join(field, "path"), "missing: an .ipa, an .app folder or an Info.plist"
            )
        text = self.text(keys["path"][1], _join(field, "path"))
        try:
            path = Path(os.path.normpath(self.base / Path(text).expanduser()))
        except RuntimeError as exc:  # `~nosuchuser/...`
            self.fail(keys["path"][1], _join(field, "path"), f"cannot expand {_short(text)}: {exc}")
        try:
            self.check_app_path(path, keys["path"][1], _join(field, "path"))
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte
            why = exc.strerror if isinstance(exc, OSError) else exc
            self.fail(keys["path"][1], _join(field, "path"), f"cannot use this path: {why}")
        signing = "development"
        if "signing" in keys:
            signing = self.text(keys["signing"][1], _join(field, "signing"))
            if signing not in SIGNINGS:
                self.fail(keys["signing"][1], _join(field, "signing"), f"one of {SIGNINGS}")
        return AppEntry(name=name, path=path, line=_line(key), signing=signing)

    def check_app_path(self, path: Path, node: Node, field: str) -> None:
        """The path must be something the backends install, and readable now (not mid-run)."""
        kind, shown = path.suffix.lower(), _short(str(path), 300)[1:-1]
        if kind not in (".ipa", ".app", ".plist"):
            self.fail(node, field, f"{shown} is not an .ipa, an .app folder or an Info.plist")
        if not path.exists():
            self.fail(
                node, field, f"{shown} does not exist (a relative path starts at {self.base})"
            )
        if (kind == ".app") != path.is_dir():
            shape = "a folder" if kind == ".app" else "a file"
            self.fail(node, field, f"{shown} should be {shape}")
        if not os.access(path, os.R_OK):
            self.fail(node, field, f"{shown} is not readable (check its permissions)")

    def device(
        self, node: Node, field: str, apps: dict[str, AppEntry], before: Sequence[DeviceRecord]
    ) -> DeviceRecord:
        keys = self.mapping(node, field, _DEVICE_KEYS, "a device: a mapping with name and backend")
        if "name" not in keys:
            self.fail(node, _join(field, "name"), "every device needs a name")
        name = self.word(keys["name"][1], _join(field, "name"), "device name")
        self.check_unique_name(name, keys["name"][1], _join(field, "name"), before)
        backend = self.backend(keys, node, field)

        def get(key: str, parse: Callable[[Node, str], T]) -> T | None:
            return parse(keys[key][1], _join(field, key)) if key in keys else None

        app_names = get("apps", lambda n, f: self.app_list(n, f, apps, backend))
        unlock = get("unlock", self.boolean)
        udid = get("udid", self.udid)
        if udid:
            self.check_unique_udid(udid, keys["udid"][1], _join(field, "udid"), before)
        return DeviceRecord(
            name=name,
            backend=backend,
            model=get("model", self.model),
            ios=get("ios", self.ios),
            tags=get("tags", self.tags) or (),
            apps=self.default_apps(node, field, apps, backend) if app_names is None else app_names,
            host=get("host", lambda n, f: self.word(n, f, "host name")),
            udid=udid,
            usbmux=get("usbmux", self.usbmux),
            tunnel=get("tunnel", self.tunnel),
            wda=get("wda", self.url),
            unlock=backend == "virtual" if unlock is None else unlock,
            time_scale=get("time_scale", self.time_scale) or 0.0,
            stall_tolerance_s=get("stall_tolerance_s", self.tolerance_range),
            line=_line(node),
        )

    def backend(self, keys: dict[str, tuple[ScalarNode, Node]], node: Node, field: str) -> Backend:
        """The backend, and the keys that belong to it: a key of the other one is a mistake."""
        if "backend" not in keys:
            self.fail(node, _join(field, "backend"), f"missing: one of {', '.join(BACKENDS)}")
        text = self.text(keys["backend"][1], _join(field, "backend"))
        backend = next((known for known in BACKENDS if known == text), None)
        if backend is None:
            hint = _did_you_mean(text, BACKENDS) or f"; use one of {', '.join(BACKENDS)}"
            self.fail(
                keys["backend"][1], _join(field, "backend"), f"unknown backend {text!r}{hint}"
            )
        for other in BACKENDS:
            for key in _BACKEND_KEYS[other] if other != backend else ():
                if key in keys:
                    problem = f"{key} is for {other} devices only (this one is {backend})"
                    self.fail(keys[key][0], _join(field, key), problem)
        if backend == "ios" and "udid" not in keys:
            self.fail(node, _join(field, "udid"), f"an ios device needs a udid ({_UDID_HINT})")
        return backend

    def check_unique_name(
        self, name: str, node: Node, field: str, before: Sequence[DeviceRecord]
    ) -> None:
        """A lease, --device and the report all go by name."""
        for index, other in enumerate(before):
            if other.name == name:
                problem = f"{name!r} is already the name of devices[{index}] (line {other.line})"
                self.fail(node, field, f"{problem}; names must be unique")

    def check_unique_udid(
        self, udid: str, node: Node, field: str, before: Sequence[DeviceRecord]
    ) -> None:
        """Two records for one phone would let two workers lease it at once."""
        for index, other in enumerate(before):
            if other.udid and same_udid(udid, other.udid):
                problem = f"devices[{index}] {other.name!r} (line {other.line}) has this udid too"
                self.fail(node, field, f"{problem}; one phone, one record")

    def text(self, node: Node, field: str) -> str:
        """A scalar as the user typed it: `ios: 17.10` stays "17.10", not the float 17.1."""
        if not isinstance(node, ScalarNode):
            self.fail(node, field, f"expected a single value, got {_what(node)}")
        if node.tag not in _TEXT_TAGS:  # `!!binary`, `!!python/...`, `!mytag`
            self.fail(node, field, f"expected plain text, got {_what(node)}: remove the tag")
        if node.tag == _TAG + "null" or not node.value.strip():
            self.fail(node, field, "no value; give one or remove the key")
        return node.value.strip()

    def matching(self, node: Node, field: str, pattern: re.Pattern[str], expected: str) -> str:
        text = self.text(node, field)
        if not pattern.fullmatch(text):
            self.fail(node, field, f"expected {expected}, got {_short(text)}")
        return text

    def word(self, node: Node, field: str, what: str) -> str:
        """Names and tags are words, so a filter expression can name them."""
        text = self.matching(node, field, _WORD, f"a {what} of letters, digits, '.', '_' or '-'")
        if text in _KEYWORDS:
            self.fail(node, field, f"{text!r} is a filter keyword; pick another {what}")
        return text

    def sequence(self, node: Node, field: str, expected: str) -> list[Node]:
        if not isinstance(node, SequenceNode):
            self.fail(node, field, f"expected {expected}, got {_what(node)}")
        return node.value

    def tags(self, node: Node, field: str) -> tuple[str, ...]:
        items = self.sequence(node, field, "a list of tags, like [virtual, ci]")
        return tuple(self.word(item, f"{field}[{i}]", "tag") for i, item in enumerate(items))

    def app_list(
        self, node: Node, field: str, apps: dict[str, AppEntry], backend: str
    ) -> tuple[str, ...]:
        names: list[str] = []
        for i, item in enumerate(self.sequence(node, field, "a list of app names, like [BGProbe]")):
            name = self.text(item, f"{field}[{i}]")
            if name not in apps:
                known = ", ".join(apps) or "none"
                self.fail(
                    item,
                    f"{field}[{i}]",
                    f"no app named {name!r} in `apps:`{_did_you_mean(name, apps)} (known: {known})",
                )
            if name in names:
                self.fail(item, f"{field}[{i}]", f"{name!r} is listed twice")
            self.check_installable(apps[name], item, f"{field}[{i}]", backend)
            names.append(name)
        return tuple(names)

    def default_apps(
        self, node: Node, field: str, apps: dict[str, AppEntry], backend: str
    ) -> tuple[str, ...]:
        """Without `apps:` a device takes every app, so each must be installable on it."""
        for entry in apps.values():
            self.check_installable(entry, node, _join(field, "apps"), backend)
        return tuple(apps)

    def check_installable(self, app: AppEntry, node: Node, field: str, backend: str) -> None:
        """A real iPhone installs only a built app; catch an Info.plist here, not mid-run."""
        if backend == "ios" and app.kind == "plist":
            self.fail(
                node,
                field,
                f"app {app.name} is an Info.plist (apps.{app.name}, line"
                f" {app.line}); a real iPhone needs the built .ipa or .app: point that"
                " path at it, or list only built apps in this device's `apps:`",
            )

    def model(self, node: Node, field: str) -> str:
        return self.matching(node, field, _MODEL, "a ProductType like iPhone17,3")

    def ios(self, node: Node, field: str) -> str:
        text = self.text(node, field)
        if not is_version(text):
            self.fail(node, field, f'expected an iOS version like "26.1", got {_short(text)}')
        return text

    def udid(self, node: Node, field: str) -> str:
        return self.matching(node, field, _UDID, f"a UDID ({_UDID_HINT})")

    def usbmux(self, node: Node, field: str) -> Address:
        what = "a remote usbmuxd, like 10.0.0.5:27015"
        return self.parse_address(self.text(node, field), node, field, what)

    def parse_address(self, text: str, node: Node, field: str, what: str) -> Address:
        try:
            return parse_address(text, what=what)
        except AddressError as exc:
            self.fail(node, field, str(exc))

    def tunnel(self, node: Node, field: str) -> Address:
        """`tunneld` or `tunneld@HOST[:PORT]`: the daemon that holds this phone's RSD tunnel."""
        text = self.text(node, field)
        kind, _, where = text.partition("@")
        if kind != "tunneld" or (not where and "@" in text):
            self.fail(
                node,
                field,
                f'expected "tunneld" or "tunneld@HOST:PORT", got {_short(text)} ({_TUNNELD_HINT})',
            )
        if not where:
            return Address("127.0.0.1", TUNNELD_DEFAULT_PORT)
        try:
            return parse_address(where, TUNNELD_DEFAULT_PORT, f"a tunneld ({_TUNNELD_HINT})")
        except AddressError as exc:
            self.fail(node, field, str(exc))

    def url(self, node: Node, field: str) -> str:
        text = self.text(node, field)
        try:
            parts = urlsplit(text)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            ok = ok and (parts.port is None or parts.port > 0)
        except ValueError:
            ok = False
        if not ok:
            self.fail(
                node,
                field,
                f"expected WebDriverAgent's URL, like http://127.0.0.1:8100, got {_short(text)}",
            )
        return text

    def boolean(self, node: Node, field: str) -> bool:
        if not isinstance(node, ScalarNode) or node.tag != _TAG + "bool":
            self.fail(node, field, f"expected true or false, got {_what(node)}")
        if node.value.lower() not in SafeConstructor.bool_values:  # `!!bool maybe`
            self.fail(node, field, f"expected true or false, got {node.value!r:.40}")
        return bool(_CONSTRUCT.construct_yaml_bool(node))

    def time_scale(self, node: Node, field: str) -> float:
        if not isinstance(node, ScalarNode) or node.tag not in (_TAG + "int", _TAG + "float"):
            self.fail(
                node,
                field,
                f"expected a number >= 0 (0 = the clock jumps, 1 = real time), got {_what(node)}",
            )
        try:  # `!!float abc`, 4,300 digits: PyYAML's constructors raise
            value = float(_CONSTRUCT.construct_object(node))
        except (ValueError, OverflowError):
            value = math.nan
        if not math.isfinite(value) or value < 0:
            self.fail(
                node,
                field,
                f"expected a number >= 0 (0 = the clock jumps, 1 = real time), got "
                f"{_short(node.value)[1:-1]}",
            )
        return value

    def tolerance_range(self, node: Node, field: str) -> tuple[float, float]:
        """`[low, high]` seconds: the virtual iPhone's range of continued-task stall tolerances."""
        values = node.value if isinstance(node, SequenceNode) else []
        nums = [
            float(_CONSTRUCT.construct_object(v))
            for v in values
            if isinstance(v, ScalarNode) and v.tag in (_TAG + "int", _TAG + "float")
        ]
        if len(values) != 2 or len(nums) != 2 or not all(math.isfinite(n) for n in nums):
            self.fail(
                node, field, f"expected [low, high] in seconds, like [20, 30], got {_what(node)}"
            )
        low, high = nums
        if not 0 < low <= high:
            self.fail(node, field, f"expected 0 < low <= high, got [{low:g}, {high:g}]")
        return (low, high)


_CONSTRUCT = SafeConstructor()
# The tags a plain scalar resolves to: any other (`!!binary`, `!!python/...`) is a mistake.
_TEXT_TAGS = frozenset(_TAG + t for t in ("str", "int", "float", "bool", "null"))


def _short(text: str, limit: int = 60) -> str:
    """A value quoted in a message, cut to a readable length (a 4,300-digit number is not)."""
    if len(text) <= limit:
        return repr(text)
    return repr(text[: limit - 3] + f"... ({len(text)} characters)")


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key
