// A deliberately wrong call, kept as a negative compile test: BGTaskScheduler.h has no
// `submitTaskRequest(_:)` in Swift (it imports as `submit(_:) throws`), and a launch handler takes
// a BGTask, not a String. `swiftc -typecheck` of this file against the stand-ins must fail
// (tests/test_probekit.py); its twin RightCall.swift must pass.

import BackgroundTasks

func wrong() {
    BGTaskScheduler.shared.submitTaskRequest(BGAppRefreshTaskRequest(identifier: "a.b"))
    _ = BGTaskScheduler.shared.register(forTaskWithIdentifier: "a.b", using: nil) { (task: String) in }
}
