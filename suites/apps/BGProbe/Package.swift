// swift-tools-version:5.9
// BGProbe on Linux: ProbeKit (the plan, the runner, the progress engine, the `bgprobe` line; pure
// Swift + Foundation) with its XCTest, and the iOS shell (Sources/) type-checked against
// StandIns/: minimal BackgroundTasks, UIKit, Security, Metal and os modules written from the
// public SDK headers. That proves the shell consistent with our reading of the headers, not with
// the SDK; Xcode on a Mac (make probe) builds the same shell against the real frameworks.
import PackageDescription

let standIns = ["BackgroundTasks", "UIKit", "Security", "Metal", "os"]

let package = Package(
    name: "BGProbe",
    targets: [
        .target(name: "ProbeKit", path: "ProbeKit/Sources/ProbeKit"),
        .testTarget(name: "ProbeKitTests", dependencies: ["ProbeKit"], path: "ProbeKit/Tests/ProbeKitTests"),
    ] + standIns.map { .target(name: $0, path: "StandIns/\($0)") } + [
        .target(
            name: "BGProbeShell",
            dependencies: ["ProbeKit"] + standIns.map { .target(name: $0) },
            path: "Sources"
        ),
    ]
)
