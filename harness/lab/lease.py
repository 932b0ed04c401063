"""Leases: a device is held by one run at a time, and freed when its holder dies.

labgrid's users' first complaint was locks left behind by cancelled CI jobs (anchors §2), so a
lease here is never indefinite: it names its holder (host, pid, user, CI job), carries an expiry
that a heartbeat thread pushes forward every quarter of the time-to-live, and is stale once that
expiry has passed, or at once when its holder was a process on this host that no longer exists.
A stale lease is taken over by the next run that asks; nobody has to clean up after a SIGKILL.

One lab Mac keeps its leases as files in one folder (`lease_dir`: `$BGHARNESS_LEASE_DIR`, else
`~/.bgharness/leases`), so every checkout and every CI runner of that user sees the same holders.
Each device has `<key>.lease` (JSON, replaced atomically) and `<key>.lock`, a lock file held with
`flock` for the few milliseconds a check-and-change takes, so two runs never both decide that a
stale lease is theirs. The key is the phone's UDID (two inventories naming one phone still
share one lease); a virtual iPhone lives in one checkout's state folder, so its key adds a hash of
that folder and two checkouts' virtual iPhones never wait for each other.

`LeaseDir` is the folder (I/O only); `Lease` one held lease with explicit states; `Leases` what a
process holds: acquire (waiting with progress lines, or failing fast naming the holder), the
heartbeat, release. `Lab` uses `Leases`; `bgharness who` and `release` use `LeaseDir`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import getpass
import hashlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TypeVar

from harness.core.errors import HarnessError
from harness.core.udid import udid_key
from harness.data.inventory import DeviceRecord
from harness.data.processes import pid_alive

LEASE_DIR_ENV = "BGHARNESS_LEASE_DIR"
DEFAULT_TTL_S = 60.0
# How often a waiting run says it is still waiting (real seconds).
PROGRESS_EVERY_S = 30.0

T = TypeVar("T")


class LeaseError(HarnessError):
    """A lease could not be taken or kept; the lab's problem, not the app's."""

    category = "infra"


class DeviceBusy(LeaseError):
    """Another run holds the device; the message names it and how to free a dead one."""

    def __init__(self, message: str, current: LeaseRecord):
        self.current = current
        super().__init__(message)


class LeaseLost(LeaseError):
    """The lease expired while this run held it (stopped process, sleeping Mac), and was taken."""


# -- Who holds a lease --------------------------------------------------------------------------

# The CI systems we know, by the environment variable that names the job, and how to say it.
_CI_JOBS: tuple[tuple[str, Callable[[Mapping[str, str]], tuple[str, str | None]]], ...] = (
    (
        "GITHUB_RUN_ID",
        lambda env: (
            f"GitHub Actions run {env['GITHUB_RUN_ID']}"
            + (f" job {env['GITHUB_JOB']}" if env.get("GITHUB_JOB") else "")
            + (f" ({env['GITHUB_REPOSITORY']})" if env.get("GITHUB_REPOSITORY") else ""),
            f"{env.get('GITHUB_SERVER_URL', 'https://github.com')}/{env['GITHUB_REPOSITORY']}"
            f"/actions/runs/{env['GITHUB_RUN_ID']}"
            if env.get("GITHUB_REPOSITORY")
            else None,
        ),
    ),
    ("BUILD_TAG", lambda env: (f"Jenkins {env['BUILD_TAG']}", env.get("BUILD_URL"))),
    (
        "CI_JOB_ID",
        lambda env: (
            f"GitLab job {env['CI_JOB_ID']}"
            + (f" ({env['CI_PROJECT_PATH']})" if env.get("CI_PROJECT_PATH") else ""),
            env.get("CI_JOB_URL"),
        ),
    ),
    (
        "BUILDKITE_BUILD_ID",
        lambda env: (
            f"Buildkite build {env.get('BUILDKITE_BUILD_NUMBER', env['BUILDKITE_BUILD_ID'])}",
            env.get("BUILDKITE_BUILD_URL"),
        ),
    ),
)


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: enough for a person at the lab to find the run and stop it."""

    host: str
    pid: int
    user: str
    job: str | None = None  # the CI job, in words
    url: str | None = None  # where to see that job
    run: str | None = None  # one id for all the processes (xdist workers) of one pytest run
    worker: str | None = None  # the xdist worker, e.g. gw0
    pidns: str | None = None  # Linux pid namespace: a pid means something only inside it

    @classmethod
    def this_process(
        cls,
        run: str | None = None,
        worker: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Holder:
        env = os.environ if env is None else env
        job = url = None
        for variable, describe in _CI_JOBS:
            if env.get(variable):
                job, url = describe(env)
                break
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            user=_user(),
            job=job,
            url=url,
            run=run,
            worker=worker,
            pidns=_pid_namespace(),
        )

    def describe(self) -> str:
        """`pid 4242 (gw0) of ci on lab-mac-1, GitHub Actions run 17 job device (org/app)`."""
        worker = f" ({self.worker})" if self.worker else ""
        job = f", {self.job}" if self.job else ""
        return f"pid {self.pid}{worker} of {self.user} on {self.host}{job}"

    def is_gone(self) -> bool:
        """True only when we can be sure: same host and pid namespace, and no such process."""
        if self.host != socket.gethostname() or self.pidns != _pid_namespace():
            return False
        return not pid_alive(self.pid)


@dataclass(frozen=True)
class LeaseRecord:
    """What a lease file says (all times are the holder's wall clock, seconds since the epoch)."""

    key: str
    device: str
    token: str  # this acquisition; renewals and release check it, so nobody frees another's
    holder: Holder
    acquired: float
    expires: float
    ttl: float
    checkout: str = ""  # the state folder of the run that holds it (virtual iPhones live there)

    def stale(self, now: float) -> str | None:
        """Why this lease no longer holds the device, or None while it does."""
        if self.holder.is_gone():
            return f"its holder ({self.holder.describe()}) has exited"
        if now >= self.expires:
            ago = human_duration(now - self.expires + self.ttl)
            return (
                f"its holder ({self.holder.describe()}) last renewed it {ago} ago: it died, hung "
                "or lost this folder"
            )
        return None

    def describe(self, now: float | None = None) -> str:
        """`virtual-iphone is held by pid 4242 of ci on lab-mac-1 since <date time> (12 min)`."""
        now = time.time() if now is None else now
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.acquired))
        url = f" <{self.holder.url}>" if self.holder.url else ""
        return (
            f"{self.device} is held by {self.holder.describe()}{url} since {since} "
            f"({human_duration(now - self.acquired)})"
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LeaseRecord:
        """Parse a lease file; ValueError naming the field when it is not what this module wrote
        (hand-edited, another version's, or cut short), so nothing downstream meets a bad type."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("holder"), dict):
            raise ValueError("expected a JSON object with a `holder` object")
        holder = _checked(Holder, data["holder"], "holder.")
        return _checked(cls, {**data, "holder": holder}, "")


def lease_key(record: DeviceRecord, state_dir: Path) -> str:
    """The name a device's lease goes by in the lease folder (see the module docstring)."""
    if record.udid:
        return "udid-" + udid_key(record.udid)
    where = hashlib.sha256(str(Path(state_dir).absolute()).encode()).hexdigest()[:10]
    return f"{record.backend}-{record.name}-{where}"


def default_lease_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$BGHARNESS_LEASE_DIR`, else ~/.bgharness/leases: one folder per lab user, all checkouts."""
    env = os.environ if env is None else env
    return Path(env[LEASE_DIR_ENV]).expanduser() if env.get(LEASE_DIR_ENV) else _home_leases()


def _home_leases() -> Path:
    return Path.home() / ".bgharness" / "leases"


# -- The folder ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One try at a lease: `ours` (we hold `record` now) or a live run's `record`.

    `took_over` says why a stale lease was replaced, for the user to read.
    """

    record: LeaseRecord
    ours: bool
    took_over: str | None = None


class LeaseDir:
    """The lease files of one lab Mac. Every change happens under the device's `flock`."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def read(self, key: str) -> LeaseRecord | None:
        """The lease on `key` as written, stale or not; None when there is none."""
        file = self._lease(key)
        try:
            return LeaseRecord.from_json(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except OSError as exc:  # a folder in its place, no permission, an I/O error
            what = exc.strerror or type(exc).__name__
            raise LeaseError(
                f"cannot read the lease file {file} ({what}); if no run is using that device, "
                "remove it (and let every lab user read the lease folder)"
            ) from None
        except (ValueError, TypeError, KeyError, RecursionError) as exc:
            raise LeaseError(
                f"the lease file {file} is unreadable ({_short(exc)}); if no run is using that "
                "device, delete the file"
            ) from None

    def all(self) -> list[LeaseRecord]:
        """Every lease in the folder, stale ones too, by device name."""
        found = []
        for file in sorted(self.path.glob("*.lease")) if self.path.is_dir() else []:
            record = self.read(file.stem)
            if record is not None:
                found.append(record)
        return sorted(found, key=lambda r: (r.device, r.key))

    def try_acquire(
        self, key: str, device: str, holder: Holder, ttl: float, checkout: str = ""
    ) -> Attempt:
        """Take the lease on `key` if nobody live holds it; never waits."""
        with self._locked(key):
            self._clean_tmp(key)
            now = time.time()
            current = self.read(key)
            why = current.stale(now) if current is not None else None
            if current is not None and why is None:
                return Attempt(current, ours=False)
            ours = LeaseRecord(key, device, uuid.uuid4().hex, holder, now, now + ttl, ttl, checkout)
            self._write(ours)
            taken = f"took over a stale lease: {why}" if current is not None else None
            return Attempt(ours, ours=True, took_over=taken)

    def renew(self, lease: LeaseRecord) -> LeaseRecord | None:
        """Push the expiry forward; None when the file is no longer ours (we lost the lease)."""
        with self._locked(lease.key):
            current = self.read(lease.key)
            if current is None or current.token != lease.token:
                return None
            renewed = replace(current, expires=time.time() + current.ttl)
            self._write(renewed)
            return renewed

    def release(self, lease: LeaseRecord) -> bool:
        """Remove our lease; False (and nothing removed) when someone else's is there now."""
        with self._locked(lease.key):
            current = self.read(lease.key)
            if current is None or current.token != lease.token:
                return False
            self._lease(lease.key).unlink(missing_ok=True)
            return True

    def break_lease(self, key: str, only_stale: bool) -> LeaseRecord | None:
        """Remove the lease on `key` (a held one too unless `only_stale`); the record removed.

        Raises DeviceBusy when `only_stale` and the holder is alive.
        """
        with self._locked(key):
            current = self.read(key)
            if current is None:
                return None
            if only_stale and current.stale(time.time()) is None:
                raise DeviceBusy(
                    f"{current.describe()}; it is alive and renewing its lease. Stop that run, "
                    f"or add --force to take the device from it",
                    current,
                )
            self._lease(key).unlink(missing_ok=True)
            return current

    def _lease(self, key: str) -> Path:
        return self.path / f"{key}.lease"

    def _clean_tmp(self, key: str) -> None:
        """Remove what a run killed inside `_write` left (`.KEY.lease.PID.tmp`, PID gone)."""
        for tmp in self.path.glob(f".{key}.lease.*.tmp"):
            with contextlib.suppress(OSError, ValueError):
                if not pid_alive(int(tmp.name.rsplit(".", 2)[-2])):
                    tmp.unlink()

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = _open_lock(self.path / f"{key}.lock")
        except OSError as exc:
            raise LeaseError(
                f"cannot use the lease folder {self.path}: {exc.strerror}; set "
                f"{LEASE_DIR_ENV} (or --lease-dir) to a folder every lab run can write"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock; so does the kernel if we are killed

    def _write(self, record: LeaseRecord) -> None:
        """Write the whole file beside, then rename over: readers never see half a lease."""
        file = self._lease(record.key)
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.fchmod(fd, 0o644)  # whatever the umask: other lab users read it
                os.write(fd, record.to_json().encode())
            finally:
                os.close(fd)
            os.replace(tmp, file)
        except OSError as exc:  # disk full, folder made read-only: the caller decides
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise LeaseError(
                f"cannot write the lease file {file} ({exc.strerror or exc}); free space in "
                f"the lease folder or make it writable (or set {LEASE_DIR_ENV})"
            ) from None


# -- What one process holds ---------------------------------------------------------------------


class LeaseState(Enum):
    HELD = "held"
    RELEASED = "released"
    LOST = "lost"


@dataclass
class Lease:
    """One lease this process took. HELD until released, or LOST when the heartbeat finds the
    file taken over (a stopped process, a Mac that slept past the time-to-live)."""

    record: LeaseRecord
    state: LeaseState = LeaseState.HELD
    lost_to: LeaseRecord | None = field(default=None)
    why_lost: str = "its heartbeat could not renew it in time"
    renew_error: str | None = None  # the last renewal's failure, while it is still held

    def check_held(self, method: str) -> None:
        """Raise, naming `method` and the state, unless the lease is still held."""
        if self.state is LeaseState.HELD:
            return
        if self.state is LeaseState.LOST:
            taker = f"; now {self.lost_to.describe()}" if self.lost_to else ""
            raise LeaseLost(
                f"{method}: the lease on {self.record.device} was lost ({self.why_lost}){taker}. "
                "Another run may be using the device: stop, check `bgharness who`, and run again"
            )
        raise LeaseError(f"{method}: the lease on {self.record.device} was already released")


class Leases:
    """The leases one process holds, kept alive by one heartbeat thread.

    Called by `Lab.open` (acquire), by the plugin before each test (check) and at the end of the
    run (release_all). `say` prints progress lines while waiting for a busy device.
    """

    def __init__(
        self,
        folder: LeaseDir,
        holder: Holder,
        *,
        ttl: float = DEFAULT_TTL_S,
        wait: float = 0.0,
        say: Callable[[str], None] = lambda line: None,
        poll: float = 0.5,
    ):
        if ttl <= 0:
            raise LeaseError(f"the lease time-to-live must be positive, got {ttl:g} s")
        self.folder, self.holder, self.ttl, self.wait = folder, holder, ttl, wait
        self._say, self._poll = say, min(poll, ttl / 4)
        self._held: dict[str, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._heart: threading.Thread | None = None

    def acquire(self, key: str, device: str, checkout: str = "") -> Lease:
        """Hold the device, waiting up to `wait` real seconds for another run to let it go.

        Raises DeviceBusy naming the holder when the wait is over (at once when `wait` is 0).
        """
        if key in self._held and self._held[key].state is LeaseState.HELD:
            return self._held[key]
        started = time.monotonic()
        told: float | None = None  # when we last said we are waiting
        while True:
            attempt = self.folder.try_acquire(key, device, self.holder, self.ttl, checkout)
            if attempt.ours:
                if attempt.took_over:
                    self._say(f"{device}: {attempt.took_over}")
                if told is not None:
                    self._say(f"{device}: free after {human_duration(time.monotonic() - started)}")
                return self._keep(Lease(attempt.record))
            waited = time.monotonic() - started
            if waited >= self.wait:
                raise DeviceBusy(self._busy_message(attempt.record, waited), attempt.record)
            if told is None or waited - told >= PROGRESS_EVERY_S:
                self._say(
                    f"{attempt.record.describe()}; waiting for it "
                    f"(up to {human_duration(self.wait)}, --device-wait; "
                    f"{human_duration(waited)} so far)"
                )
                told = waited
            time.sleep(min(self._poll, max(0.0, self.wait - waited)))

    def check(self, key: str, method: str) -> None:
        """Raise LeaseLost (or LeaseError) unless this process still holds `key`."""
        lease = self._held.get(key)
        if lease is None:
            raise LeaseError(f"{method}: this run holds no lease on {key}")
        lease.check_held(method)

    def held(self) -> list[Lease]:
        with self._lock:
            return list(self._held.values())

    def release(self, key: str) -> None:
        """Give one lease back (the device could not be opened); harmless when not held.

        Under the same lock as a heartbeat's renewal, so a release never looks like a loss.
        """
        with self._lock:
            lease = self._held.pop(key, None)
            if lease is not None:
                self._give_back(lease)

    def release_all(self) -> None:
        """Stop the heartbeat and give every held lease back; harmless to call twice."""
        self._stop.set()
        if self._heart is not None and self._heart is not threading.current_thread():
            self._heart.join(timeout=5)
        with self._lock:
            leases = list(self._held.values())
            self._held.clear()
            for lease in leases:
                self._give_back(lease)

    def _give_back(self, lease: Lease) -> None:
        if lease.state is LeaseState.HELD:
            lease.state = LeaseState.RELEASED
            with contextlib.suppress(LeaseError):  # unreadable now: it expires on its own
                self.folder.release(lease.record)

    def renew_all(self) -> None:
        """One heartbeat: push every held lease's expiry forward; mark lost ones LOST.

        A renewal that fails (disk full, folder gone read-only) is retried at the next beat; when
        less than one beat is left before the lease expires, it is marked LOST, before another
        run can take the device, so the next check of this run fails naming why.
        """
        for lease in self.held():
            with self._lock:
                if lease.state is LeaseState.HELD and lease.record.key in self._held:
                    self._renew(lease)

    def _renew(self, lease: Lease) -> None:
        device = lease.record.device
        try:
            renewed = self.folder.renew(lease.record)
        except LeaseError as exc:
            if lease.renew_error is None:
                self._say(f"{device}: could not renew its lease: {exc}")
            lease.renew_error = str(exc)
            if time.time() >= lease.record.expires - self.ttl / 4:
                lease.state = LeaseState.LOST
                lease.why_lost = f"its heartbeat could not renew it: {exc}"
                self._say(f"{device}: lost its lease (could not renew it); see `bgharness who`")
            return
        if renewed is None:
            lease.state = LeaseState.LOST
            with contextlib.suppress(LeaseError):
                lease.lost_to = self.folder.read(lease.record.key)
            self._say(f"{device}: lost its lease; see `bgharness who`")
        else:
            lease.record, lease.renew_error = renewed, None

    def _keep(self, lease: Lease) -> Lease:
        with self._lock:
            self._held[lease.record.key] = lease
        if self._heart is None or not self._heart.is_alive():
            self._stop.clear()
            self._heart = threading.Thread(
                target=self._beat, name="bgharness-lease-heartbeat", daemon=True
            )
            self._heart.start()
        return lease

    def _beat(self) -> None:
        # Never dies quietly: a heartbeat that stopped would let another run take the device
        # while this one keeps testing. renew_all turns a failed write into LOST in time.
        while not self._stop.wait(self.ttl / 4):
            try:
                self.renew_all()
            except Exception as exc:  # a bug, not the folder: say it, keep beating
                self._say(f"lease heartbeat: {_short(exc)}")

    def _busy_message(self, theirs: LeaseRecord, waited: float) -> str:
        gave_up = (
            f"gave up after {human_duration(waited)} (--device-wait {self.wait:g})"
            if self.wait > 0
            else "not waiting (--device-wait 0)"
        )
        return (
            f"{theirs.describe()}; {gave_up}. If that run has died, the device frees itself "
            f"within {human_duration(theirs.ttl)} (the lease's time-to-live). "
            f"`bgharness who` lists holders; `bgharness release --force {theirs.device}` "
            "takes the device back if you are sure that run is gone"
        )


# -- Helpers ------------------------------------------------------------------------------------

# Lease and lock files are shared by every lab user of the folder (README: BGHARNESS_LEASE_DIR),
# whatever each one's umask; the folder's own permissions say who may take leases.
SHARED_MODE = 0o666
# Times in a lease file are seconds since the epoch: beyond this (year 5138) is not a time.
_MAX_TIME = 1e11


def _open_lock(path: Path) -> int:
    """The lock file, created shareable; read-only when another user made it 0644 (flock works
    on a read-only descriptor too)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, SHARED_MODE)
    except FileExistsError:
        try:
            return os.open(path, os.O_RDWR)
        except PermissionError:
            return os.open(path, os.O_RDONLY)
    with contextlib.suppress(OSError):
        os.fchmod(fd, SHARED_MODE)
    return fd


_FIELD_TYPES = {"str": (str,), "int": (int,), "float": (int, float)}


def _checked(cls: type[T], data: dict[str, object], prefix: str) -> T:
    """`cls(**data)` once every field has the type its annotation names (None where optional)."""
    known = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    data = {name: value for name, value in data.items() if name in known}  # a newer version's
    for name, spec in known.items():
        if name not in data:
            if spec.default is dataclasses.MISSING:
                raise ValueError(f"missing field {prefix}{name}")
            continue
        value, annotation = data[name], str(spec.type)
        if name == "holder":
            continue
        if value is None and "None" in annotation:
            continue
        kinds = _FIELD_TYPES[annotation.split(" ")[0]]
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise ValueError(f"field {prefix}{name} should be a {annotation}, not {value!r:.40}")
        numeric = isinstance(value, int | float)
        if numeric and (not 0 <= value < _MAX_TIME or (name == "ttl" and value <= 0)):  # type: ignore[operator]
            raise ValueError(f"field {prefix}{name} is out of range: {value!r:.40}")
    return cls(**data)


def _short(exc: BaseException) -> str:
    """An exception as one short line, for messages that must stay one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _pid_namespace() -> str | None:
    """Linux: the pid namespace's inode (containers); elsewhere None (one namespace per host)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return None


def human_duration(seconds: float) -> str:
    """A short human duration: `0.4 s`, `42 s`, `12 min`, `3 h 5 min`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours} h {rest // 60} min"
