// Registration, submission and the launch handlers, exactly as the plan says. Handlers run on
// the scheduler's own background queue (register(using: nil)); nothing here is main-actor
// isolated (facts B7: actor-isolated handler closures trap under Swift 6).

import BackgroundTasks
import Foundation
import Security

final class Scheduler {
    static let shared = Scheduler()
    private var plan = Plan()

    /// Called from application(_:didFinishLaunchingWithOptions:): every handler must be
    /// registered before launch finishes (facts B7).
    func start(reason: String) {
        let (plan, launchedWithPlan) = Plan.current()
        self.plan = plan
        Probe.report("app.launched", ["pid": Int(getpid()), "reason": reason])
        if plan.cancel_all { BGTaskScheduler.shared.cancelAllTaskRequests() }
        for id in plan.register {
            let ok = BGTaskScheduler.shared.register(forTaskWithIdentifier: id, using: nil) { task in
                Scheduler.shared.run(task)
            }
            if ok {
                Probe.report("task.registered", task: id)
            } else {
                Probe.report("task.registration_error", task: id, ["reason": "not_permitted"])
            }
        }
        if launchedWithPlan {
            prepareKeychain()
            for request in plan.submit { submit(request) }
        }
    }

    func submit(_ r: Plan.Request) {
        do {
            try BGTaskScheduler.shared.submit(try make(r))
            Probe.report("task.submitted", task: r.id, ["type": r.type])
        } catch {
            let e = error as NSError
            Probe.report("task.submit_failed", task: r.id,
                         ["type": r.type, "code": e.code, "domain": e.domain])
        }
    }

    private func make(_ r: Plan.Request) throws -> BGTaskRequest {
        switch r.type {
        case "processing":
            let p = BGProcessingTaskRequest(identifier: r.id)
            p.requiresNetworkConnectivity = r.requires_network ?? false
            p.requiresExternalPower = r.requires_power ?? false
            p.earliestBeginDate = r.earliest_begin_s.map { Date(timeIntervalSinceNow: $0) }
            return p
        case "continued":
            if #available(iOS 26.0, *) {
                let c = BGContinuedProcessingTaskRequest(
                    identifier: r.id, title: r.title ?? "BG Probe", subtitle: r.subtitle ?? "Working")
                c.strategy = r.strategy == "fail" ? .fail : .queue
                if r.gpu ?? false { c.requiredResources = .gpu }
                return c
            }
            throw NSError(domain: "BGTaskSchedulerErrorDomain", code: 1)
        default:
            let a = BGAppRefreshTaskRequest(identifier: r.id)
            a.earliestBeginDate = r.earliest_begin_s.map { Date(timeIntervalSinceNow: $0) }
            return a
        }
    }

    private func run(_ task: BGTask) {
        let id = task.identifier
        let h = plan.handler(for: id)
        Probe.report("task.launched", task: id, ["type": Self.type(of: task)])
        readKeychain(h.keychain, task: id)
        if h.resubmit ?? false, let r = plan.request(for: id) ?? Self.request(like: task) { submit(r) }

        let work = Work(task: task, handler: h)
        if h.expiration_handler ?? true {
            task.expirationHandler = {
                Probe.report("task.expired", task: id)
                work.finish(success: false)
            }
        }
        work.start()
    }

    private static func type(of task: BGTask) -> String {
        if task is BGProcessingTask { return "processing" }
        if #available(iOS 26.0, *), task is BGContinuedProcessingTask { return "continued" }
        return "refresh"
    }

    private static func request(like task: BGTask) -> Plan.Request? {
        Plan.Request(type: type(of: task), id: task.identifier)
    }

    // -- Keychain probe (facts B8) -----------------------------------------------------------

    private static func account(_ accessibility: String) -> String { "bgprobe.\(accessibility)" }

    /// In the foreground, store one item per accessibility class for handlers to read later.
    private func prepareKeychain() {
        for (name, attr) in [("when_unlocked", kSecAttrAccessibleWhenUnlocked),
                             ("after_first_unlock", kSecAttrAccessibleAfterFirstUnlock)] {
            let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword,
                                        kSecAttrAccount as String: Self.account(name)]
            SecItemDelete(query as CFDictionary)
            var add = query
            add[kSecValueData as String] = Data("bgprobe".utf8)
            add[kSecAttrAccessible as String] = attr
            SecItemAdd(add as CFDictionary, nil)
        }
    }

    private func readKeychain(_ accessibility: String?, task: String) {
        guard let accessibility else { return }
        let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword,
                                    kSecAttrAccount as String: Self.account(accessibility),
                                    kSecReturnData as String: true]
        let status = SecItemCopyMatching(query as CFDictionary, nil)
        if status == errSecInteractionNotAllowed {
            Probe.report("keychain.locked", task: task,
                         ["status": Int(status), "accessibility": accessibility])
        }
    }
}

/// One handler's work: progress reports, then completion as the plan says.
private final class Work {
    private let task: BGTask
    private let handler: Plan.Handler
    private let queue = DispatchQueue(label: "dev.bgharness.probe.work")
    private var done = false

    init(task: BGTask, handler: Plan.Handler) {
        self.task = task
        self.handler = handler
    }

    func start() {
        let workS = handler.work_s ?? 1
        if let every = handler.progress_every_s, every > 0 {
            let steps = max(1, Int(workS / every))
            if #available(iOS 26.0, *), let c = task as? BGContinuedProcessingTask {
                c.progress.totalUnitCount = Int64(steps)
            }
            for step in 1...steps {
                queue.asyncAfter(deadline: .now() + every * Double(step)) { [self] in
                    guard !done else { return }
                    if #available(iOS 26.0, *), let c = task as? BGContinuedProcessingTask {
                        c.progress.completedUnitCount = Int64(step)
                    }
                    Probe.report("task.progress", task: task.identifier,
                                 ["completed": step, "total": steps])
                }
            }
        }
        guard handler.complete != "never" else { return }
        queue.asyncAfter(deadline: .now() + workS) { [self] in
            finish(success: handler.complete != "failure")
        }
    }

    func finish(success: Bool) {
        queue.async { [self] in
            guard !done else { return }
            done = true
            Probe.report("task.completed", task: task.identifier, ["success": success])
            task.setTaskCompleted(success: success)
        }
    }
}
