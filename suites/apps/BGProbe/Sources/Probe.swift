// Probe: every step the app takes, reported as `bgprobe {json}` on os_log subsystem
// dev.bgharness.probe, category lifecycle. bgharness's log parser reads these lines; the
// "event" values are the event kinds of harness/events.py (docs/architecture.md), so the virtual iPhone
// and this app write the same thing.

import Foundation
import os

enum Probe {
    private static let log = Logger(subsystem: "dev.bgharness.probe", category: "lifecycle")

    static func report(_ event: String, task: String? = nil, _ attrs: [String: Any] = [:]) {
        var body = attrs
        body["event"] = event
        if let task { body["task"] = task }
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        let json = String(data: data, encoding: .utf8) ?? "{}"
        log.notice("bgprobe \(json, privacy: .public)")
    }
}
