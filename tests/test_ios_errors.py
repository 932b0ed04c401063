"""Every pymobiledevice3 failure a lab meets, as the harness error that says the fix."""

from __future__ import annotations

import asyncio

import pytest
import requests
from pymobiledevice3.dtx.exceptions import DTXNsError
from pymobiledevice3.dtx.ns_types import NSError
from pymobiledevice3.exceptions import (
    AppInstallError,
    BadDevError,
    ConnectionFailedToUsbmuxdError,
    ConnectionTerminatedError,
    CoreDeviceError,
    DeveloperModeIsNotEnabledError,
    DeviceNotFoundError,
    FatalPairingError,
    InvalidHostIDError,
    InvalidServiceError,
    MuxVersionError,
    NoDeviceConnectedError,
    NotMountedError,
    NotPairedError,
    PairingDialogResponsePendingError,
    PasscodeRequiredError,
    PasswordRequiredError,
    PyMobileDevice3Exception,
    QuicProtocolNotSupportedError,
    RSDRequiredError,
    StartServiceError,
    StreamClosedError,
    TunneldConnectionError,
    UserDeniedPairingError,
    WdaError,
)

from harness.core.errors import AppError, DeviceUnavailable, HarnessError, InfraError, UsageError
from harness.data.inventory import Address
from harness.device.backends import ios_errors
from harness.device.backends.ios_errors import Where, is_transient, retrying, translate
from harness.device.backends.ios_loop import LoopStopped, LoopTimeout

UDID = "00008110-000A1B2C3D4E5F60"
HERE = Where("iphone", UDID, tunnel=Address("127.0.0.1", 49151), wda="http://127.0.0.1:8100")
REMOTE = Where("iphone", UDID, usbmux=Address("10.0.0.5", 27015))


def ns_error(description: str) -> DTXNsError:
    return DTXNsError(
        NSError(
            1, "com.apple.dt.deviceprocesscontrolservice", {"NSLocalizedDescription": description}
        )
    )


# (failure, opening, where, harness error class, words the message must hold)
MAPPINGS = [
    (
        ConnectionFailedToUsbmuxdError(),
        True,
        HERE,
        DeviceUnavailable,
        ["no usbmuxd is running here", "apt install usbmuxd"],
    ),
    (
        ConnectionFailedToUsbmuxdError(),
        True,
        REMOTE,
        DeviceUnavailable,
        ["nothing answers at 10.0.0.5:27015", "socat"],
    ),
    (
        NoDeviceConnectedError(),
        True,
        HERE,
        DeviceUnavailable,
        ["not attached", "data cable", "usbmux list"],
    ),
    (
        DeviceNotFoundError(UDID),
        True,
        REMOTE,
        DeviceUnavailable,
        ["the usbmuxd at 10.0.0.5:27015 does not list", "--usbmux 10.0.0.5:27015"],
    ),
    (DeviceNotFoundError(UDID), False, HERE, InfraError, ["not attached"]),
    (
        PairingDialogResponsePendingError(),
        True,
        HERE,
        DeviceUnavailable,
        ["tap Trust", f"lockdown pair --udid {UDID}"],
    ),
    (
        UserDeniedPairingError(),
        True,
        HERE,
        DeviceUnavailable,
        ["Don't Trust was tapped", "tap Trust"],
    ),
    (NotPairedError(), True, HERE, DeviceUnavailable, ["not paired with this Mac", "tap Trust"]),
    (
        InvalidHostIDError(),
        True,
        REMOTE,
        DeviceUnavailable,
        ["not paired", f"lockdown pair --udid {UDID} --usbmux 10.0.0.5:27015"],
    ),
    (FatalPairingError(), False, HERE, InfraError, ["not paired"]),
    (
        PasswordRequiredError(),
        True,
        HERE,
        DeviceUnavailable,
        ["locked with a passcode", "unlock the phone"],
    ),
    (PasscodeRequiredError("", UDID, "16.7"), False, HERE, InfraError, ["locked with a passcode"]),
    (
        DeveloperModeIsNotEnabledError(),
        True,
        HERE,
        DeviceUnavailable,
        [
            "Developer Mode is off",
            "Settings > Privacy & Security > Developer Mode",
            "amfi reveal-developer-mode",
        ],
    ),
    (
        NotMountedError(),
        True,
        HERE,
        DeviceUnavailable,
        ["not mounted", f"pymobiledevice3 mounter auto-mount --udid {UDID}", "every restart"],
    ),
    (
        InvalidServiceError("InvalidService", UDID, "16.7"),
        False,
        HERE,
        InfraError,
        ["Developer Mode", "mounter auto-mount"],
    ),
    (
        StartServiceError(
            "com.apple.instruments.remoteserver.DVTSecureSocketProxy", "InvalidService"
        ),
        False,
        HERE,
        InfraError,
        ["does not offer a developer service", "mounter auto-mount"],
    ),
    (
        RSDRequiredError(UDID, "17.4"),
        True,
        Where("iphone", UDID),
        DeviceUnavailable,
        ["add `tunnel: tunneld`", "sudo pymobiledevice3 remote tunneld"],
    ),
    (
        TunneldConnectionError(),
        True,
        HERE,
        DeviceUnavailable,
        ["no tunnel", "127.0.0.1:49151", "sudo pymobiledevice3 remote tunneld"],
    ),
    (
        TunneldConnectionError(),
        True,
        Where("iphone", UDID, tunnel=Address("lab-mac-2", 49151)),
        DeviceUnavailable,
        ["on lab-mac-2"],
    ),
    (QuicProtocolNotSupportedError(), True, HERE, DeviceUnavailable, ["remote tunneld -p tcp"]),
    (
        AppInstallError("ApplicationVerificationFailed: Failed to verify code signature"),
        False,
        HERE,
        AppError,
        ["installer refused", "Failed to verify code signature", "add its UDID to the profile"],
    ),
    (
        AppInstallError("MismatchedApplicationIdentifierEntitlement: x"),
        False,
        HERE,
        AppError,
        ["uninstall it from the phone first"],
    ),
    (
        AppInstallError("SomethingNew: y"),
        False,
        HERE,
        AppError,
        ["installer refused the app: SomethingNew: y"],
    ),
    (
        ns_error("Unable to launch dev.x because the device was not, or could not be, unlocked."),
        False,
        HERE,
        UsageError,
        ["the phone refused", "unlock the phone"],
    ),
    (
        ns_error(
            "Unable to launch dev.x because it has an invalid code signature, inadequate "
            "entitlements or its profile has not been explicitly trusted by the user."
        ),
        False,
        HERE,
        UsageError,
        ["VPN & Device Management"],
    ),
    (
        WdaError("WDA rejected the request (HTTP status 500): boom", 500),
        False,
        HERE,
        InfraError,
        ["WebDriverAgent refused", "boom"],
    ),
    (
        requests.ConnectionError("refused"),
        False,
        HERE,
        InfraError,
        [
            "WebDriverAgent at http://127.0.0.1:8100 does not answer",
            "xcodebuild",
            "usbmux forward 8100 8100",
        ],
    ),
    (
        LoopTimeout("no answer within 30 s"),
        False,
        HERE,
        InfraError,
        ["did not answer (no answer within 30 s)", "replug"],
    ),
    (
        LoopStopped("iphone: the device connection is closed; open the device again"),
        False,
        HERE,
        InfraError,
        ["open the device again"],
    ),
    (
        ConnectionTerminatedError(),
        False,
        HERE,
        InfraError,
        ["connection to the phone dropped", "after 3 tries"],
    ),
    (asyncio.IncompleteReadError(b"", 4), False, HERE, InfraError, ["dropped"]),
    (
        CoreDeviceError("Failed to invoke getlockstate"),
        False,
        HERE,
        InfraError,
        ["CoreDevice service refused"],
    ),
    (
        PyMobileDevice3Exception("something odd"),
        False,
        HERE,
        InfraError,
        ["failed in pymobiledevice3", "something odd"],
    ),
]


@pytest.mark.parametrize(
    ("failure", "opening", "where", "kind", "words"),
    MAPPINGS,
    ids=[f"{type(m[0]).__name__}-{'open' if m[1] else 'run'}" for m in MAPPINGS],
)
def test_each_failure_maps_to_an_error_with_its_fix(failure, opening, where, kind, words):
    error = translate(failure, where, "launch", opening=opening)
    assert type(error) is kind
    message = str(error)
    assert message.startswith("iphone: ")
    for word in words:
        assert word in message
    assert error.infra == issubclass(kind, (InfraError, DeviceUnavailable))


def test_a_bug_is_not_translated():
    assert translate(ValueError("a bug"), HERE, "launch") is None


def test_a_harness_error_passes_through():
    error = HarnessError("already said")
    assert translate(error, HERE, "launch") is error


@pytest.mark.parametrize(
    ("failure", "transient"),
    [
        (ConnectionTerminatedError(), True),
        (StreamClosedError(), True),
        (BadDevError(), True),
        (DeviceNotFoundError(UDID), True),
        (ConnectionResetError(), True),
        (requests.ConnectionError(), True),
        (ConnectionFailedToUsbmuxdError(), False),
        (MuxVersionError(), False),
        (AppInstallError("x"), False),
        (NotPairedError(), False),
        (LoopTimeout(), False),
    ],
)
def test_which_failures_are_retried(failure, transient):
    assert is_transient(failure) is transient


def test_retrying_is_bounded_and_never_retries_a_product_failure(monkeypatch):
    monkeypatch.setattr(ios_errors, "FIRST_WAIT_S", 0.0)
    calls: list[int] = []
    resets: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionTerminatedError()
        return "ok"

    assert retrying(before_retry=lambda: resets.append(1))(flaky) == "ok"
    assert (len(calls), len(resets)) == (3, 2)

    def always() -> None:
        calls.append(1)
        raise ConnectionTerminatedError()

    calls.clear()
    with pytest.raises(ConnectionTerminatedError):
        retrying()(always)
    assert len(calls) == ios_errors.ATTEMPTS

    def refused() -> None:
        calls.append(1)
        raise AppInstallError("ApplicationVerificationFailed: no")

    calls.clear()
    with pytest.raises(AppInstallError):
        retrying()(refused)
    assert len(calls) == 1
