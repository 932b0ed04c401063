"""pymobiledevice3's failures, as harness errors that say what to do.

`translate` is the one place a pymobiledevice3 (or WebDriverAgent) exception becomes a
`HarnessError`: every failure a lab meets names the phone and the fix, in the user's terms.
While a device is being opened, "cannot reach it" is `DeviceUnavailable` (the plugin skips its
tests with the message); once it is open, losing it is `InfraError`. `is_transient` says which
failures a retry may cure (a dropped connection, a phone re-enumerating on USB); `retrying` is
the bounded tenacity policy the backend wraps its calls in. Product failures (the installer
refusing the app, the app not launching) are never retried.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from pymobiledevice3.dtx.exceptions import DTXNsError, DTXProtocolError
from pymobiledevice3.exceptions import (
    AppInstallError,
    BadCommandError,
    ConnectionFailedToUsbmuxdError,
    ConnectionTerminatedError,
    CoreDeviceError,
    DeveloperModeIsNotEnabledError,
    DeviceNotFoundError,
    FatalPairingError,
    InvalidHostIDError,
    InvalidServiceError,
    MuxException,
    MuxVersionError,
    NoDeviceConnectedError,
    NotMountedError,
    NotPairedError,
    NotTrustedError,
    PairingDialogResponsePendingError,
    PasscodeRequiredError,
    PasswordRequiredError,
    PyMobileDevice3Exception,
    QuicProtocolNotSupportedError,
    RemoteXPCHandshakeTimeoutError,
    RSDRequiredError,
    StartServiceError,
    TunneldConnectionError,
    UserDeniedPairingError,
    WdaError,
)
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

from harness.core.errors import AppError, DeviceUnavailable, HarnessError, InfraError, UsageError
from harness.data.inventory import Address
from harness.device.backends.ios_loop import LoopStopped, LoopTimeout

# How often a call that failed on a transient error is tried in all; the pauses between tries
# double from the first to the longest.
ATTEMPTS = 3
FIRST_WAIT_S = 0.5
MAX_WAIT_S = 4.0
# An install outlasts a replug: a phone re-enumerating on USB (or a hub resetting) takes seconds,
# and an upload of hundreds of megabytes is not to be thrown away for it.
REPLUG_PATIENCE_S = 30.0

_TRANSIENT = (
    ConnectionTerminatedError,  # stream closed, cable pulled mid-call (StreamClosedError too)
    MuxException,  # usbmuxd dropped the connection, BadDev while the phone re-enumerates
    NoDeviceConnectedError,
    DeviceNotFoundError,
    asyncio.IncompleteReadError,
    ConnectionError,  # reset, refused, broken pipe on a service socket
    RemoteXPCHandshakeTimeoutError,
    requests.ConnectionError,  # WebDriverAgent's forwarded port briefly gone
)
# Failures of usbmuxd itself: retrying does not start a daemon or fix a protocol.
_NOT_TRANSIENT = (ConnectionFailedToUsbmuxdError, MuxVersionError, BadCommandError)


def is_transient(exc: BaseException) -> bool:
    """A failure that a reconnect and another try may cure."""
    return isinstance(exc, _TRANSIENT) and not isinstance(exc, _NOT_TRANSIENT)


def retrying(
    attempts: int = ATTEMPTS,
    before_retry: Callable[[], None] | None = None,
    patience_s: float | None = None,
) -> Retrying:
    """Bounded retries of transient failures; the last failure is re-raised as it was.

    `before_retry` runs before each new attempt (the backend drops its stale connections there).
    With `patience_s`, tries go on (at least `attempts` of them) until that many seconds passed.
    """
    stop: Any = stop_after_attempt(attempts)
    if patience_s is not None:
        stop = stop_after_attempt(attempts) & stop_after_delay(patience_s)
    return Retrying(
        stop=stop,
        wait=wait_exponential(multiplier=FIRST_WAIT_S, max=MAX_WAIT_S),
        retry=retry_if_exception(is_transient),
        before_sleep=(lambda _state: before_retry()) if before_retry else None,
        reraise=True,
    )


@dataclass(frozen=True)
class Where:
    """What the messages name: the phone, and how to reach it in the fix commands."""

    device: str
    udid: str
    usbmux: Address | None = None
    tunnel: Address | None = None
    wda: str | None = None

    @property
    def usbmuxd(self) -> str:
        return f"the usbmuxd at {self.usbmux}" if self.usbmux else "this Mac's usbmuxd"

    @property
    def args(self) -> str:
        """The pymobiledevice3 options that pick this phone."""
        via = f" --usbmux {self.usbmux}" if self.usbmux else ""
        return f"--udid {self.udid}{via}"

    @property
    def tunnel_host(self) -> str:
        if self.tunnel is None or self.tunnel.host in ("127.0.0.1", "localhost", "::1"):
            return "the Mac the phone is plugged into"
        return self.tunnel.host


# -- The fixes, in the user's terms --------------------------------------------------------------


def fix_usbmuxd(where: Where) -> str:
    if where.usbmux:
        return (
            f"nothing answers at {where.usbmux}: start the relay on that Mac (e.g. `socat "
            "TCP-LISTEN:PORT,reuseaddr,fork UNIX-CONNECT:/var/run/usbmuxd`) or fix `usbmux:` in "
            "devices.yaml"
        )
    return (
        "no usbmuxd is running here: macOS runs it by itself; on Linux install and start "
        "usbmuxd (e.g. `apt install usbmuxd`), or point `usbmux: HOST:PORT` in devices.yaml at "
        "the Mac the phone is plugged into"
    )


def fix_attach(where: Where) -> str:
    return (
        f"plug it into {'that Mac' if where.usbmux else 'this Mac'} with a data cable (not a "
        f"charge-only one) and check that `pymobiledevice3 usbmux list"
        f"{' --usbmux ' + str(where.usbmux) if where.usbmux else ''}` lists it"
    )


def fix_trust(where: Where) -> str:
    return (
        "unlock the phone and tap Trust on its 'Trust This Computer?' dialog (replug the cable to "
        f"bring the dialog back), or run `pymobiledevice3 lockdown pair {where.args}`"
    )


def fix_unlock(where: Where) -> str:
    return "unlock the phone with its passcode and run again"


def fix_developer_mode(where: Where) -> str:
    return (
        "turn on Developer Mode: Settings > Privacy & Security > Developer Mode, let the phone "
        "restart and confirm (if the switch is missing, `pymobiledevice3 amfi "
        f"reveal-developer-mode {where.args}` shows it)"
    )


def fix_disk_image(where: Where) -> str:
    return (
        "mount the developer disk image (needed again after every restart): `pymobiledevice3 "
        f"mounter auto-mount {where.args}` (it downloads the image the first time)"
    )


def fix_tunnel(where: Where) -> str:
    if where.tunnel is None:
        return (
            "iOS 17 and later reach developer services only through a tunnel: add `tunnel: "
            "tunneld` to this device in devices.yaml and start `sudo pymobiledevice3 remote "
            "tunneld` on the Mac the phone is plugged into"
        )
    return (
        f"start the tunnel daemon on {where.tunnel_host}: `sudo pymobiledevice3 remote tunneld` "
        f"(bgharness asks it at {where.tunnel}; `tunnel: tunneld@HOST:PORT` in devices.yaml "
        "points elsewhere)"
    )


def fix_wda(where: Where) -> str:
    return (
        f"start WebDriverAgent on the phone (`xcodebuild -project WebDriverAgent.xcodeproj "
        f"-scheme WebDriverAgentRunner -destination id={where.udid} test`) and forward its port "
        f"(`pymobiledevice3 usbmux forward 8100 8100 {where.args}`), then check {where.wda}/status"
    )


# Known installer error codes → what to do (installation_proxy's "Error" field).
_INSTALL_HINTS = {
    "ApplicationVerificationFailed": "the signature or provisioning profile does not allow this "
    "phone: add its UDID to the profile (developer portal), rebuild, and check the signing "
    "certificate is valid",
    "DeviceOSVersionTooLow": "the app's MinimumOSVersion is above this phone's iOS: lower the "
    "deployment target or use a newer phone",
    "MismatchedApplicationIdentifierEntitlement": "an app with this bundle id, signed by another "
    "team, is installed: uninstall it from the phone first",
    "IncorrectArchitecture": "the build is for another architecture (a simulator build?): build "
    "for 'Any iOS Device (arm64)'",
    "PackageInspectionFailed": "the .ipa is damaged or not an iOS app: export it again",
}


# -- The translation -----------------------------------------------------------------------------


def translate(
    exc: BaseException, where: Where, verb: str, *, opening: bool = False
) -> HarnessError | None:
    """The harness error for `exc`, or None when it is not a device failure (a bug: re-raise).

    `opening` is True while the device is being opened: being unable to reach it then means its
    tests are skipped (`DeviceUnavailable`); later it means the lab failed (`InfraError`).
    """
    name = where.device
    lost = DeviceUnavailable if opening else InfraError
    if isinstance(exc, HarnessError):
        return exc
    if isinstance(exc, ConnectionFailedToUsbmuxdError):
        return lost(f"{name}: cannot reach {where.usbmuxd}: {fix_usbmuxd(where)}")
    if isinstance(exc, (NoDeviceConnectedError, DeviceNotFoundError)):
        return lost(
            f"{name}: not attached ({where.usbmuxd} does not list {where.udid}): "
            f"{fix_attach(where)}"
        )
    if isinstance(exc, PairingDialogResponsePendingError):
        return lost(f"{name}: waiting for the phone to trust this Mac: {fix_trust(where)}")
    if isinstance(exc, (PasswordRequiredError, PasscodeRequiredError)):
        return lost(f"{name}: the phone is locked with a passcode: {fix_unlock(where)}")
    if isinstance(exc, UserDeniedPairingError):
        return lost(
            f"{name}: the phone refused to trust this Mac (Don't Trust was tapped): "
            f"{fix_trust(where)}"
        )
    if isinstance(exc, (NotPairedError, NotTrustedError, InvalidHostIDError, FatalPairingError)):
        return lost(f"{name}: not paired with this Mac: {fix_trust(where)}")
    if isinstance(exc, DeveloperModeIsNotEnabledError):
        return lost(f"{name}: Developer Mode is off: {fix_developer_mode(where)}")
    if isinstance(exc, NotMountedError):
        return lost(f"{name}: the developer disk image is not mounted: {fix_disk_image(where)}")
    if isinstance(exc, (InvalidServiceError, StartServiceError)):
        # The backend diagnoses which of the two it is when it can (ios.py, _diagnose).
        return lost(
            f"{name}: {verb}: the phone does not offer a developer service ({exc}): either "
            f"Developer Mode is off ({fix_developer_mode(where)}) or the developer disk image is "
            f"not mounted ({fix_disk_image(where)})"
        )
    if isinstance(exc, RSDRequiredError):
        return lost(f"{name}: {verb} needs the iOS 17+ tunnel: {fix_tunnel(where)}")
    if isinstance(exc, TunneldConnectionError):
        return lost(
            f"{name}: no tunnel: tunneld does not answer at {where.tunnel}: {fix_tunnel(where)}"
        )
    if isinstance(exc, QuicProtocolNotSupportedError):
        return lost(
            f"{name}: tunneld made a QUIC tunnel, which iOS 18.2 and later refuse: restart it "
            "with `sudo pymobiledevice3 remote tunneld -p tcp`"
        )
    if isinstance(exc, AppInstallError):
        return _install_error(exc, name)
    if isinstance(exc, DTXNsError):
        return _device_said(exc, name, verb)
    if isinstance(exc, WdaError):
        return InfraError(f"{name}: {verb}: WebDriverAgent refused: {exc}")
    if isinstance(exc, requests.RequestException):
        return InfraError(
            f"{name}: {verb}: WebDriverAgent at {where.wda} does not answer "
            f"({type(exc).__name__}): {fix_wda(where)}"
        )
    if isinstance(exc, LoopTimeout):
        return InfraError(
            f"{name}: {verb}: the phone did not answer ({exc}): check the cable "
            "and that the phone is awake; replug it if it keeps happening"
        )
    if isinstance(exc, LoopStopped):
        return InfraError(f"{name}: {verb}: {exc}")
    if is_transient(exc):
        return InfraError(
            f"{name}: {verb}: the connection to the phone dropped ({type(exc).__name__}: {exc}) "
            f"and did not come back after {ATTEMPTS} tries: check the cable or hub, and "
            f"{fix_attach(where)}"
        )
    if isinstance(exc, CoreDeviceError):
        return InfraError(f"{name}: {verb}: the phone's CoreDevice service refused: {exc}")
    if isinstance(exc, (PyMobileDevice3Exception, DTXProtocolError)):
        return InfraError(f"{name}: {verb} failed in pymobiledevice3: {type(exc).__name__}: {exc}")
    return None


def _install_error(exc: AppInstallError, name: str) -> AppError:
    reason = str(exc)
    code = reason.split(":", 1)[0].strip()
    hint = _INSTALL_HINTS.get(code)
    return AppError(
        f"{name}: the phone's installer refused the app: {reason}" + (f"; {hint}" if hint else "")
    )


def _device_said(exc: DTXNsError, name: str, verb: str) -> UsageError:
    """An NSError from the instruments server, e.g. a launch the phone refused."""
    info = exc.error.user_info or {}
    said = str(info.get("NSLocalizedDescription") or exc)
    lowered = said.lower()
    hint = ""
    if "locked" in lowered:
        hint = ": unlock the phone and run again"
    elif "trusted" in lowered or "untrusted" in lowered:
        hint = (
            ": trust the developer on the phone (Settings > General > VPN & Device Management > "
            "the developer app > Trust)"
        )
    elif "not installed" in lowered or "no application" in lowered:
        hint = ": install the app first"
    return UsageError(f"{name}: {verb}: the phone refused: {said}{hint}")
