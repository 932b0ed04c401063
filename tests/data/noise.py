"""Realistic device-log noise: what an iPhone logs around background work that is no event.

The senders and message shapes come from real iOS logs (Console.app copies and `log show`
excerpts in public bug reports: RunningBoard bookkeeping, SpringBoard scene work, dasd scoring,
CFNetwork tasks, memory warnings, xpc connections). `noise_message` fills a shape in with random
values. None of it is a task event, though some shapes carry words close to the parser's
triggers (dasd's SUBMITTED for system activities, an app's own line naming a task identifier,
`error:`, which is lldb's only as bare text), as real logs do. The benchmark and the property
tests use it; it is test data, not part of the harness.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Sender:
    process: str
    image: str
    subsystem: str
    category: str


SENDERS = (
    Sender("runningboardd", "RunningBoard", "com.apple.runningboard", "assertion"),
    Sender("runningboardd", "RunningBoard", "com.apple.runningboard", "monitor"),
    Sender("runningboardd", "RunningBoard", "com.apple.runningboard", "process"),
    Sender("SpringBoard", "FrontBoard", "com.apple.FrontBoard", "Process"),
    Sender("SpringBoard", "SpringBoard", "com.apple.SpringBoard", "Common"),
    Sender("dasd", "DuetActivityScheduler", "com.apple.duetactivityscheduler", "scoring"),
    Sender("dasd", "DuetActivityScheduler", "com.apple.duetactivityscheduler", "lifecycle"),
    Sender("locationd", "CoreLocation", "com.apple.locationd.Position", "Position"),
    Sender("wifid", "WiFiPolicy", "com.apple.WiFiPolicy", "wifid"),
    Sender("CommCenter", "CommCenter", "com.apple.CommCenter", "ul"),
    Sender("symptomsd", "SymptomEvaluator", "com.apple.symptomsd", "flow"),
    Sender("mDNSResponder", "mDNSResponder", "com.apple.mDNSResponder", "Default"),
    Sender("nsurlsessiond", "CFNetwork", "com.apple.CFNetwork", "Summary"),
    Sender("kernel", "kernel", "", ""),
    Sender("backboardd", "BackBoardServices", "com.apple.BackBoard", "HID"),
    Sender("mediaserverd", "AudioToolbox", "com.apple.coreaudio", "as_server"),
    Sender("bluetoothd", "bluetoothd", "com.apple.bluetooth", "Server.LE"),
    Sender("trustd", "Security", "com.apple.securityd", "trust"),
    Sender("PerfPowerServices", "PerfPowerServices", "com.apple.powerlog", "processMonitor"),
    Sender("powerd", "powerd", "com.apple.powerd", "sleepWake"),
    Sender("cfprefsd", "CoreFoundation", "com.apple.defaults", "cfprefsd"),
    Sender("apsd", "ApplePushService", "com.apple.apsd", "connection"),
    Sender("BGProbe", "BGProbe.debug.dylib", "dev.bgharness.app", "sync"),
    Sender("BGProbe", "libxpc.dylib", "com.apple.xpc", "connection"),
    Sender("BGProbe", "UIKitCore", "com.apple.UIKit", "BackgroundTask"),
)

BUNDLES = ("dev.bgharness.probe", "com.apple.mobilemail", "com.apple.weather", "com.x.app")
SYSTEM_ACTIVITIES = (
    "com.apple.CacheDelete.daily",
    "com.apple.siri.xpc_activity.maintenance",
    "com.apple.photoanalysisd.backgroundanalysis",
    "com.apple.dasd.default.health",
)

# {pid} {hex} {uuid} {bundle} {n} {ms} {activity} {task}: filled in by `noise_message`.
SHAPES = (
    "Acquiring assertion targeting [app<{bundle}({uuid})>:{pid}] from originator "
    '[daemon<com.apple.dasd>:97] with description <RBSAssertionDescriptor| "DAS DYLD3 Closure '
    'Generation" ID:33-97-{n} target:{pid}>',
    "Calculated state for app<{bundle}({uuid})>: running-active (role: Background) "
    "(endowments: <private>)",
    "[app<{bundle}({uuid})>:{pid}] Set jetsam priority to 3 [0] flag[1]",
    "[app<{bundle}({uuid})>:{pid}] Set darwin role to: UserInteractiveNonFocal",
    "Finished acquiring assertion 33-{pid}-{n} (target:[app<{bundle}({uuid})>:{pid}])",
    "Received state update for {pid} (app<{bundle}({uuid})>, running-active-NotVisible",
    "Application process state changed for {bundle}: <SBApplicationProcessState: 0x{hex}; "
    "pid: {pid}; taskState: Running; visibility: Background>",
    "[{bundle}] deleting old suspend snapshots using predicate: <XBApplicationSnapshotPredicate: "
    "0x{hex}>",
    "<SBSceneSnapshotRequestor: 0x{hex}; debugName: LCD> [sceneID:{bundle}-default] Snapshot "
    "request (0x{hex}) complete with error: 0",
    "SUBMITTED: {activity}:{hex6} at priority 30",
    "'{activity}:{hex6}' CurrentScore: 0.{n}, ThresholdScore: 0.53 DecisionToRun:0",
    "Policy: Application Policy, Decision: Must Not Proceed, Reason: [app not in foreground]",
    "{activity}:{hex6} Evaluating {n} activities based on triggers",
    "Received memory warning.",
    "memorystatus: {bundle} [{pid}] exceeded mem limit: ActiveSoft 1536 MB (non-fatal)",
    "nw_path_evaluator_start_helper_connection [C{n}] start",
    "[C{n} {uuid} Hostname#{hex}:443 tcp, url hash: {hex}, tls, definite, attribution: "
    "developer] start",
    "Task <{uuid}>.<{n}> resuming, timeouts(60.0, 604800.0) QOS(0x19) Voucher <private>",
    "Task <{uuid}>.<{n}> finished with error [-1009] Error Domain=NSURLErrorDomain "
    'Code=-1009 "The Internet connection appears to be offline."',
    "[0x{hex}] activating connection: mach=true listener=false peer=false "
    "name=com.apple.cfprefsd.daemon",
    "[0x{hex}] invalidated because the current process cancelled the connection by calling "
    "xpc_connection_cancel()",
    "Deactivation reason added: 11; deactivation reasons: 4097 -> 6145; animating application "
    "lifecycle event: 0",
    "Will add backgroundTask with taskName: <private>, expirationHandler: (null)",
    "Ending background task with UIBackgroundTaskIdentifier: {n}",
    "Incrementing reference count for background assertion <private>",
    "Question assigned DNS service {n}",
    "BundleID: {bundle} is a foreground app",
    "WiFi: link quality changed rssi=-{n} noise=-94",
    "getpwuid_r did not find a match for uid 501",
    "AppleBCMWLANCore::setPowerState(): power state {n}",
    "Sleep: Using BATT (Charge:{n}%)",
    "thermal pressure level: nominal",
    "SecTrustEvaluateIfNecessary: trust evaluation took {ms} ms",
    "error: could not open key file (code {n})",
    "Fetch completed for {task} after {ms} ms",
    "[BGTASK] Perform bg fetch {task}",
    "scheduled {task} for later; nothing to do",
)


def _hexdigits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789ABCDEF") for _ in range(n))


def noise_message(rng: random.Random) -> str:
    """One noise message, its shape and values drawn from `rng`."""
    return rng.choice(SHAPES).format(
        pid=rng.randrange(100, 9999),
        hex=_hexdigits(rng, 9).lower(),
        hex6=_hexdigits(rng, 6),
        uuid="-".join(_hexdigits(rng, n) for n in (8, 4, 4, 4, 12)),
        bundle=rng.choice(BUNDLES),
        n=rng.randrange(1, 100_000),
        ms=rng.randrange(1, 900),
        activity=rng.choice(SYSTEM_ACTIVITIES),
        task=f"dev.bgharness.probe.{rng.choice(('refresh', 'db', 'export'))}",
    )


def noise_sender(rng: random.Random) -> Sender:
    return rng.choice(SENDERS)


# Values that fill every shape, for tests that need one fixed line per shape.
FILLER = {
    "pid": 900,
    "hex": "107c21270",
    "hex6": "1A2B3C",
    "uuid": "3A0000C6-D07E-F7B7-7E90-D3593AD699FC",
    "bundle": "com.x.app",
    "n": 7,
    "ms": 12,
    "activity": SYSTEM_ACTIVITIES[0],
    "task": "com.x.refresh",
}
