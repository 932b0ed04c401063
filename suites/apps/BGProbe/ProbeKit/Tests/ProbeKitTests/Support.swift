// Files of the repository the tests read, and the fakes the conformance table runs against (the
// same rules as tests/conformance.py on the Python side).

import Foundation
@testable import ProbeKit

enum Repo {
    /// suites/apps/BGProbe
    static let app = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let root = app.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func json(_ url: URL) throws -> JSONValue {
        try JSONValue.parse(String(decoding: try Data(contentsOf: url), as: UTF8.self))
    }
}

extension JSONValue {
    subscript(_ key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }
    var array: [JSONValue] { if case .array(let a) = self { return a }; return [] }
    var string: String? { if case .string(let s) = self { return s }; return nil }
}

final class FakeSystem: TaskScheduling, Services {
    var calls: [String] = []
    var answers: [String: JSONValue] = [:]
    var expirations: [String: () -> Void] = [:]
    var uploads: [(Int) -> Void] = []
    var burns: [() -> Void] = []

    private func list(_ key: String) -> [String] { (answers[key]?.array ?? []).compactMap(\.string) }
    private func flag(_ key: String, _ otherwise: Bool) -> Bool {
        if case .bool(let b)? = answers[key] { return b }
        return otherwise
    }
    private func code(_ key: String, _ sub: String) -> Int? {
        if case .int(let i)? = answers[key]?[sub] { return i }
        return nil
    }

    var supportedResources: [String] { list("supported_resources") }
    func register(_ task: String) -> Bool { calls.append("register:\(task)"); return !list("register_refused").contains(task) }
    func submit(_ request: Request) -> Int? { calls.append("submit:\(request.type):\(request.id)"); return code("submit_errors", request.id) }
    func cancel(_ task: String) { calls.append("cancel:\(task)") }
    func cancelAll() { calls.append("cancel_all") }
    func networkUp() -> Bool { flag("network", true) }
    func keychainRead(_ accessibility: String) -> Int { calls.append("keychain:\(accessibility)"); return code("keychain", accessibility) ?? 0 }
    func fileAccess(op: String, protection: String) -> Bool {
        calls.append("file:\(op):\(protection)")
        return !list("file_denied").contains("\(op):\(protection)")
    }
    func beginBackgroundTask(_ name: String, onExpire: @escaping () -> Void) { calls.append("begin_background_task:\(name)"); expirations[name] = onExpire }
    func endBackgroundTask(_ name: String) { calls.append("end_background_task:\(name)") }
    func upload(bytes: Int, done: @escaping (Int) -> Void) { calls.append("upload:\(bytes)"); uploads.append(done) }
    func allocate(mb: Int) -> Bool { calls.append("allocate:\(mb)"); return flag("allocate", true) }
    func gpuWork() -> Bool { calls.append("gpu_work"); return flag("gpu", false) }
    func burnCPU(seconds: Int, percent: Int, done: @escaping () -> Void) { calls.append("cpu:\(seconds):\(percent)"); burns.append(done) }
}

final class FakeTask: TaskHandle {
    let system: FakeSystem
    let identifier: String
    let type: String
    var expirationHandler: (() -> Void)?
    init(_ system: FakeSystem, _ identifier: String, _ type: String) {
        self.system = system
        self.identifier = identifier
        self.type = type
    }
    func setProgress(form: String, completed: Int, total: Int) { system.calls.append("progress:\(identifier):\(form):\(completed)/\(total)") }
    func setCompleted(success: Bool) { system.calls.append("completed:\(identifier):\(success)") }
}

struct FixtureError: Error, CustomStringConvertible { let description: String }

/// Runs one fixture: its probe events (as `bgprobe` bodies) and calls.
func runFixture(_ fixture: JSONValue) throws -> (events: [JSONValue], calls: [String]) {
    var events: [JSONValue] = []
    let system = FakeSystem()
    if case .object(let answers)? = fixture["system"] { system.answers = answers }
    let clock = ManualClock()
    let probe = ProbeRunner(scheduling: system, services: system, clock: clock) { event in
        events.append((try? JSONValue.parse(event.line.dropFirst("bgprobe ".count).description)) ?? .null)
    }
    var tasks: [String: FakeTask] = [:]
    let planText = fixture["plan_text"]?.string ?? fixture["plan"]!.text
    for stimulus in fixture["stimuli"]!.array {
        guard case .object(let o) = stimulus, o.count == 1, let (verb, arg) = o.first else { throw FixtureError(description: "bad stimulus \(stimulus)") }
        switch verb {
        case "launch":
            let reason = arg.string!
            switch Plan.decode(planText) {
            case .success(let plan): probe.launch(reason == "background" ? plan.relaunch : plan, reason: reason)
            case .failure(let error): probe.reject(reason: reason, error: error)
            }
        case "tap": probe.tap(arg.string!)
        case "run":
            let id = arg["id"]!.string!
            tasks[id] = FakeTask(system, id, arg["type"]!.string!)
            probe.run(tasks[id]!)
        case "expire":
            let task = tasks[arg.string!]!
            let handler = task.expirationHandler
            task.expirationHandler = nil
            system.calls.append("expire:\(task.identifier):\(handler == nil ? "no_handler" : "handler")")
            handler?()
        case "advance": clock.advance(by: arg.number!)
        case "system": if case .object(let a) = arg { system.answers.merge(a) { $1 } }
        case "bgtime_expire": system.expirations.removeValue(forKey: arg.string!)!()
        case "upload_done": system.uploads.removeFirst()(Int(arg.number!))
        case "cpu_done": system.burns.removeFirst()()
        default: throw FixtureError(description: "unknown stimulus \(verb)")
        }
    }
    return (events, system.calls)
}
