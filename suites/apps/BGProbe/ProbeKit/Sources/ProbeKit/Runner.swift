// The runner: turns a plan and what happens to the app (launch, a task handed over, expiration,
// a tap, time passing) into calls on `TaskScheduling` and `Services` and into probe events. The
// same behaviour as the virtual iPhone's probe (harness/device/backends/virtual_probe.py); the
// conformance table holds the two together. Timers are created one at a time, when the previous
// one fires, so no plan makes the probe build a large schedule up front.

import Foundation

/// The most progress units a handler reports (the virtual iPhone's probe uses the same bound).
public let maxUnits = 1_000_000
/// errSecInteractionNotAllowed (facts B8).
public let errSecInteractionNotAllowedStatus = -25308
/// A progress unit waiting for the network retries after its gap, never sooner than this.
public let retryMinS = 1.0

public protocol Cancellable: AnyObject { func cancel() }

public protocol ProbeClock: AnyObject {
    var now: Double { get }
    @discardableResult func schedule(after delay: Double, _ action: @escaping () -> Void) -> Cancellable
}

/// BGTaskScheduler as the app sees it.
public protocol TaskScheduling: AnyObject {
    var supportedResources: [String] { get }
    func register(_ task: String) -> Bool
    /// nil when accepted, else the BGTaskSchedulerErrorDomain code.
    func submit(_ request: Request) -> Int?
    func cancel(_ task: String)
    func cancelAll()
}

/// Everything else the probe touches (the shell's adapters on a phone).
public protocol Services: AnyObject {
    func networkUp() -> Bool
    func keychainRead(_ accessibility: String) -> Int
    func fileAccess(op: String, protection: String) -> Bool
    func beginBackgroundTask(_ name: String, onExpire: @escaping () -> Void)
    func endBackgroundTask(_ name: String)
    func upload(bytes: Int, done: @escaping (Int) -> Void)
    func allocate(mb: Int) -> Bool
    func gpuWork() -> Bool
    /// A busy loop on a background queue; `done` when its time is up (never if the app dies first).
    func burnCPU(seconds: Int, percent: Int, done: @escaping () -> Void)
}

/// The BGTask handed to a launch handler.
public protocol TaskHandle: AnyObject {
    var identifier: String { get }
    var type: String { get }
    var expirationHandler: (() -> Void)? { get set }
    func setProgress(form: String, completed: Int, total: Int)
    func setCompleted(success: Bool)
}

public struct ProbeEvent: Equatable {
    public var kind: String
    public var task: String?
    public var attrs: [String: JSONValue]

    /// The event as the `bgprobe {json}` body.
    public var body: JSONValue {
        var o = attrs
        o["event"] = .string(kind)
        if let task { o["task"] = .string(task) }
        return .object(o)
    }

    /// The log line the probe writes (os_log subsystem dev.bgharness.probe, category lifecycle).
    public var line: String { "bgprobe " + body.text }
}

public func progressUnits(_ h: Handler) -> Int {
    guard let p = h.progress else { return 0 }
    guard let every = p.everyS else { return p.gapsS.count }
    return Int(min(Double(maxUnits), max(1.0, (h.workS / every).rounded(.down))))
}

/// `<id>-r<n>`, a previous `-rK` suffix replaced (plan.fresh_id in bgharness).
public func freshID(_ task: String, _ n: Int) -> String {
    if let range = task.range(of: "-r", options: .backwards) {
        let tail = task[range.upperBound...]
        if !tail.isEmpty && tail.allSatisfy({ $0.isASCII && $0.isNumber }) {
            return "\(task[..<range.lowerBound])-r\(n)"
        }
    }
    return "\(task)-r\(n)"
}

private final class Run {
    let handle: TaskHandle
    let handler: Handler
    let started: Double
    var total = 0
    var done = 0
    var finished = false
    var timer: Cancellable?
    init(handle: TaskHandle, handler: Handler, started: Double) {
        self.handle = handle
        self.handler = handler
        self.started = started
    }
}

public final class ProbeRunner {
    let scheduling: TaskScheduling
    let services: Services
    let clock: ProbeClock
    let emit: (ProbeEvent) -> Void
    public private(set) var plan = Plan()
    private var launchedAt = 0.0
    private var runs: [String: Run] = [:]
    private var submitted: [String: Request] = [:]
    private var origin: [String: String] = [:]
    private var fresh = 0

    public init(scheduling: TaskScheduling, services: Services, clock: ProbeClock, emit: @escaping (ProbeEvent) -> Void) {
        self.scheduling = scheduling
        self.services = services
        self.clock = clock
        self.emit = emit
    }

    private func say(_ kind: String, _ task: String? = nil, _ attrs: [String: JSONValue] = [:]) {
        emit(ProbeEvent(kind: kind, task: task, attrs: attrs))
    }

    // -- What happens to the app -----------------------------------------------------------

    /// application(_:didFinishLaunchingWithOptions:): cancel, register, submit, timeline.
    public func launch(_ plan: Plan, reason: String) {
        self.plan = plan
        launchedAt = clock.now
        launched(reason)
        if plan.cancelAll { scheduling.cancelAll() }
        for task in plan.register { register(task) }
        for request in plan.submit { submit(request) }
        let steps = plan.afterLaunch.enumerated().sorted { ($0.element.atS, $0.offset) < ($1.element.atS, $1.offset) }.map(\.element)
        nextStep(steps, 0)
    }

    /// A launch whose plan this build cannot follow: say so, and do nothing else.
    public func reject(reason: String, error: PlanError) {
        launched(reason)
        say("plan.rejected", nil, ["reason": .string(error.reason), "path": .string(error.path)])
    }

    /// A person tapped the button `bgprobe.tap.<name>`.
    public func tap(_ name: String) {
        say("app.tapped", nil, ["name": .string(name)])
        perform(plan.taps[name] ?? [], task: nil)
    }

    /// The launch handler: the system hands over a task.
    public func run(_ handle: TaskHandle) {
        let task = handle.identifier
        let handler = handlerFor(task)
        say("task.launched", task, ["type": .string(handle.type)])
        let run = Run(handle: handle, handler: handler, started: clock.now)
        runs[task]?.timer?.cancel()
        runs[task] = run
        if handler.expirationHandler {
            handle.expirationHandler = { [weak self, run] in self?.expired(run) }
        }
        perform(handler.actions, task: task)
        if handler.resubmit == "on_start" { resubmit(run) }
        guard let p = handler.progress else { return armCompletion(run) }
        run.total = progressUnits(handler)
        handle.setProgress(form: p.form, completed: 0, total: run.total)
        nextTick(run)
    }

    // -- Launch -------------------------------------------------------------------------------

    private func launched(_ reason: String) {
        let resources = scheduling.supportedResources.sorted().map { JSONValue.string($0) }
        say("app.launched", nil, ["reason": .string(reason), "supported_resources": .array(resources)])
    }

    private func nextStep(_ steps: [Step], _ i: Int) {
        guard i < steps.count else { return }
        let step = steps[i]
        let delay = max(0, launchedAt + step.atS - clock.now)
        clock.schedule(after: delay) { [weak self] in
            self?.perform(step.actions, task: nil)
            self?.nextStep(steps, i + 1)
        }
    }

    // -- Actions ------------------------------------------------------------------------------

    private func perform(_ actions: [Action], task: String?) {
        for action in actions { act(action, task) }
    }

    private func act(_ action: Action, _ task: String?) {
        switch action {
        case .register(let id): register(id)
        case .submit(let request): submit(request)
        case .cancel(let id):
            scheduling.cancel(id)
            say("task.cancel_requested", id, ["all": .bool(false)])
        case .cancelAll:
            scheduling.cancelAll()
            say("task.cancel_requested", nil, ["all": .bool(true)])
        case .keychain(let cls):
            let status = services.keychainRead(cls)
            let attrs: [String: JSONValue] = ["accessibility": .string(cls), "status": .int(status)]
            say("keychain.read", task, attrs)
            if status == errSecInteractionNotAllowedStatus { say("keychain.locked", task, attrs) }
        case .file(let op, let protection):
            let ok = services.fileAccess(op: op, protection: protection)
            say("file.access", task, ["op": .string(op), "protection": .string(protection), "ok": .bool(ok)])
        case .backgroundTask(let name, let workS, let end):
            backgroundTask(name: name, workS: workS, end: end, task: task)
        case .upload(let bytes):
            services.upload(bytes: bytes) { [weak self] error in self?.say("upload.finished", task, ["error": .int(error)]) }
            say("upload.started", task, ["bytes": .int(bytes)])
        case .allocate(let mb):
            let ok = services.allocate(mb: mb)
            say("memory.allocated", task, ["mb": .int(mb), "ok": .bool(ok)])
        case .gpuWork:
            say("gpu.work", task, ["ok": .bool(services.gpuWork())])
        case .cpu(let seconds, let percent):
            let attrs: [String: JSONValue] = ["seconds": .int(seconds), "percent": .int(percent)]
            say("cpu.started", task, attrs)
            services.burnCPU(seconds: seconds, percent: percent) { [weak self] in self?.say("cpu.finished", task, attrs) }
        }
    }

    private func register(_ task: String) {
        if scheduling.register(task) {
            say("task.registered", task)
        } else {
            say("task.registration_error", task, ["reason": .string("not_permitted")])
        }
    }

    private func submit(_ request: Request) {
        submitted[request.id] = request
        if let code = scheduling.submit(request) {
            say("task.submit_failed", request.id, ["type": .string(request.type), "code": .int(code), "domain": .string("BGTaskSchedulerErrorDomain")])
        } else {
            say("task.submitted", request.id, ["type": .string(request.type)])
        }
    }

    private func backgroundTask(name: String, workS: Double, end: Bool, task: String?) {
        var ended = false
        let finish = { [weak self] in
            guard let self, !ended else { return }
            ended = true
            self.services.endBackgroundTask(name)
            self.say("bgtime.ended", task, ["name": .string(name)])
        }
        services.beginBackgroundTask(name) { [weak self] in
            self?.say("bgtime.expired", task, ["name": .string(name)])
            if end { finish() }
        }
        say("bgtime.began", task, ["name": .string(name)])
        if end { clock.schedule(after: workS, finish) }
    }

    // -- Handlers -----------------------------------------------------------------------------

    private func handlerFor(_ task: String) -> Handler {
        var t = task
        while plan.handlers[t] == nil, let o = origin[t] { t = o }
        return plan.handler(for: t)
    }

    private func resubmit(_ run: Run) {
        let task = run.handle.identifier
        var request = submitted[task] ?? plan.request(for: task) ?? Request(type: run.handle.type, id: task)
        if run.handler.resubmitID == "fresh" {
            fresh += 1
            let new = freshID(task, fresh)
            origin[new] = task
            register(new)
            request.id = new
        }
        submit(request)
    }

    private func nextTick(_ run: Run) {
        guard run.done < run.total, let p = run.handler.progress else { return armCompletion(run) }
        let gap = p.everyS ?? p.gapsS[run.done]
        run.timer = clock.schedule(after: gap) { [weak self] in self?.tick(run, gap) }
    }

    private func tick(_ run: Run, _ gap: Double) {
        guard !run.finished, let p = run.handler.progress else { return }
        if p.needsNetwork && !services.networkUp() {
            run.timer = clock.schedule(after: max(gap, retryMinS)) { [weak self] in self?.tick(run, gap) }
            return
        }
        run.done += 1
        run.handle.setProgress(form: p.form, completed: run.done, total: run.total)
        say("task.progress", run.handle.identifier, ["completed": .int(run.done), "total": .int(run.total)])
        nextTick(run)
    }

    /// Complete once work_s has passed since the start and every unit is reported.
    private func armCompletion(_ run: Run) {
        guard run.handler.complete != "never" else { run.timer = nil; return }
        let remaining = max(0, run.started + run.handler.workS - clock.now)
        let success = run.handler.complete == "success"
        run.timer = clock.schedule(after: remaining) { [weak self] in self?.finish(run, success) }
    }

    private func finish(_ run: Run, _ success: Bool) {
        guard !run.finished else { return }
        run.finished = true
        run.timer?.cancel()
        run.handle.expirationHandler = nil
        say("task.completed", run.handle.identifier, ["success": .bool(success)])
        run.handle.setCompleted(success: success)
    }

    private func expired(_ run: Run) {
        guard !run.finished else { return }
        say("task.expired", run.handle.identifier)
        finish(run, false)
        if run.handler.resubmit == "on_expiry" { resubmit(run) }
    }
}

/// A clock you drive: `advance(by:)` runs every timer due, in time order (ties: first set, first
/// run), like bgharness's VirtualClock.
public final class ManualClock: ProbeClock {
    public private(set) var now: Double
    private var timers: [(at: Double, seq: Int, timer: ManualTimer)] = []
    private var seq = 0

    public init(now: Double = 0) { self.now = now }

    public final class ManualTimer: Cancellable {
        var action: (() -> Void)?
        init(_ action: @escaping () -> Void) { self.action = action }
        public func cancel() { action = nil }
    }

    @discardableResult
    public func schedule(after delay: Double, _ action: @escaping () -> Void) -> Cancellable {
        let timer = ManualTimer(action)
        seq += 1
        timers.append((max(now + delay, now), seq, timer))
        return timer
    }

    public func advance(by seconds: Double) {
        let deadline = now + seconds
        while true {
            timers.removeAll { $0.timer.action == nil }
            guard let next = timers.min(by: { ($0.at, $0.seq) < ($1.at, $1.seq) }), next.at <= deadline else { break }
            timers.removeAll { $0.timer === next.timer }
            now = next.at
            let action = next.timer.action
            next.timer.action = nil
            action?()
        }
        now = max(now, deadline)
    }
}

/// The clock of the app on a phone: wall time and a serial dispatch queue.
public final class DispatchClock: ProbeClock {
    private let queue: DispatchQueue
    public init(queue: DispatchQueue) { self.queue = queue }
    public var now: Double { Date().timeIntervalSince1970 }

    private final class Item: Cancellable {
        let work: DispatchWorkItem
        init(_ work: DispatchWorkItem) { self.work = work }
        func cancel() { work.cancel() }
    }

    @discardableResult
    public func schedule(after delay: Double, _ action: @escaping () -> Void) -> Cancellable {
        let work = DispatchWorkItem(block: action)
        queue.asyncAfter(deadline: .now() + max(0, delay), execute: work)
        return Item(work)
    }
}
