// Thin adapters from ProbeKit's protocols to Apple's frameworks. Each Apple call sits next to the
// header or document it follows; nothing here decides what the probe does.

import BackgroundTasks
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking  // URLSession on Linux, for the type-check
#endif
import Metal
import Network
import ProbeKit
import Security
import UIKit
import os

enum Log {
    // os_log subsystem dev.bgharness.probe, category lifecycle: what bgharness's parser reads.
    private static let logger = Logger(subsystem: "dev.bgharness.probe", category: "lifecycle")

    static func write(_ event: ProbeEvent) {
        logger.notice("\(event.line, privacy: .public)")
    }
}

/// BGTaskScheduler (BGTaskScheduler.h).
final class SchedulerAdapter: TaskScheduling {
    let queue: DispatchQueue
    weak var runner: ProbeRunner?
    init(queue: DispatchQueue) { self.queue = queue }

    var supportedResources: [String] {
        // BGTaskScheduler.h (iOS 26): `@property (class, readonly) … supportedResources`.
        if #available(iOS 26.0, *) {
            return BGTaskScheduler.supportedResources.contains(.gpu) ? ["gpu"] : []
        }
        return []
    }

    func register(_ task: String) -> Bool {
        // `registerForTaskWithIdentifier:usingQueue:launchHandler:` returns NO for an identifier
        // not in BGTaskSchedulerPermittedIdentifiers; the handler runs on `queue`.
        BGTaskScheduler.shared.register(forTaskWithIdentifier: task, using: queue) { [weak self] task in
            guard let self else { return }
            self.runner?.run(TaskAdapter(task, queue: self.queue))
        }
    }

    func submit(_ request: Request) -> Int? {
        do {
            // `submitTaskRequest:error:` (Swift: submit(_:) throws).
            try BGTaskScheduler.shared.submit(try make(request))
            return nil
        } catch {
            return (error as NSError).code
        }
    }

    func cancel(_ task: String) { BGTaskScheduler.shared.cancel(taskRequestWithIdentifier: task) }
    func cancelAll() { BGTaskScheduler.shared.cancelAllTaskRequests() }

    private func make(_ r: Request) throws -> BGTaskRequest {
        let earliest = r.earliestBeginS.map { Date(timeIntervalSinceNow: $0) }
        switch r.type {
        case "processing":
            // BGTaskRequest.h: requiresNetworkConnectivity, requiresExternalPower.
            let p = BGProcessingTaskRequest(identifier: r.id)
            p.requiresNetworkConnectivity = r.requiresNetwork
            p.requiresExternalPower = r.requiresPower
            p.earliestBeginDate = earliest
            return p
        case "continued":
            guard #available(iOS 26.0, *) else {
                throw NSError(domain: BGTaskSchedulerErrorDomain, code: 1)  // unavailable before 26
            }
            // BGTaskRequest.h (iOS 26): initWithIdentifier:title:subtitle:, strategy, requiredResources.
            let c = BGContinuedProcessingTaskRequest(identifier: r.id, title: r.title, subtitle: r.subtitle)
            c.strategy = r.strategy == "fail" ? .fail : .queue
            c.requiredResources = r.gpu ? .gpu : []
            return c
        default:
            let a = BGAppRefreshTaskRequest(identifier: r.id)
            a.earliestBeginDate = earliest
            return a
        }
    }
}

/// The BGTask a launch handler receives (BGTask.h).
final class TaskAdapter: TaskHandle {
    let task: BGTask
    let queue: DispatchQueue
    private var child: Progress?
    init(_ task: BGTask, queue: DispatchQueue) {
        self.task = task
        self.queue = queue
    }

    var identifier: String { task.identifier }
    var type: String {
        if task is BGProcessingTask { return "processing" }
        if #available(iOS 26.0, *), task is BGContinuedProcessingTask { return "continued" }
        return "refresh"
    }
    // BGTask.h: the system calls it on a queue of its choosing; the runner lives on `queue`.
    private var handler: (() -> Void)?
    var expirationHandler: (() -> Void)? {
        get { handler }
        set {
            handler = newValue
            task.expirationHandler = newValue.map { run in { [queue] in queue.sync(execute: run) } }
        }
    }

    func setProgress(form: String, completed: Int, total: Int) {
        // BGTask.h (iOS 26): continued tasks report progress through NSProgressReporting.
        guard #available(iOS 26.0, *), let c = task as? BGContinuedProcessingTask else { return }
        switch form {
        case "child":
            if child == nil {
                let p = Progress(totalUnitCount: Int64(total))
                c.progress.totalUnitCount = 1
                c.progress.addChild(p, withPendingUnitCount: 1)
                child = p
            }
            child?.completedUnitCount = Int64(completed)
        case "fraction":
            c.progress.totalUnitCount = 100
            c.progress.completedUnitCount = Int64(completed * 100 / max(total, 1))
        default:
            c.progress.totalUnitCount = Int64(total)
            c.progress.completedUnitCount = Int64(completed)
        }
    }

    func setCompleted(success: Bool) { task.setTaskCompleted(success: success) }
}

/// The keychain items the handlers read: one per accessibility class, stored in the foreground
/// at launch (SecItem.h; facts B8).
enum Keychain {
    static let classes: [(String, CFString)] = [
        ("when_unlocked", kSecAttrAccessibleWhenUnlocked),
        ("after_first_unlock", kSecAttrAccessibleAfterFirstUnlock),
        ("when_unlocked_this_device_only", kSecAttrAccessibleWhenUnlockedThisDeviceOnly),
        ("after_first_unlock_this_device_only", kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly),
        ("when_passcode_set_this_device_only", kSecAttrAccessibleWhenPasscodeSetThisDeviceOnly),
    ]

    static func query(_ name: String) -> [String: Any] {
        [kSecClass as String: kSecClassGenericPassword, kSecAttrAccount as String: "bgprobe.\(name)"]
    }

    static func prepare() {
        for (name, accessibility) in classes {
            _ = SecItemDelete(query(name) as CFDictionary)
            var add = query(name)
            add[kSecValueData as String] = Data("bgprobe".utf8)
            add[kSecAttrAccessible as String] = accessibility
            _ = SecItemAdd(add as CFDictionary, nil)
        }
    }

    static func read(_ name: String) -> Int {
        var q = query(name)
        q[kSecReturnData as String] = true
        return Int(SecItemCopyMatching(q as CFDictionary, nil))
    }
}

/// All its state is touched on the runner's queue: the URLSession delegate is called there too.
final class ServicesAdapter: NSObject, Services, URLSessionTaskDelegate, @unchecked Sendable {
    private let queue: DispatchQueue
    init(queue: DispatchQueue) { self.queue = queue }
    private var tasks: [String: UIBackgroundTaskIdentifier] = [:]
    private var uploads: [Int: (Int) -> Void] = [:]
    private var memory: [UnsafeMutableRawPointer] = []
    private lazy var session: URLSession = {
        let delegateQueue = OperationQueue()
        delegateQueue.underlyingQueue = queue
        return URLSession(configuration: Self.configuration, delegate: self, delegateQueue: delegateQueue)
    }()

    // URLSessionConfiguration.background(withIdentifier:): the transfer is the system's (facts B5).
    // Linux's Foundation has no background sessions, so the type-check there uses .default.
    #if os(Linux)
    static let configuration = URLSessionConfiguration.default
    #else
    static let configuration = URLSessionConfiguration.background(withIdentifier: "dev.bgharness.probe.upload")
    #endif

    // NWPathMonitor (Network.framework): whether the phone has a usable path right now.
    private let monitor: NWPathMonitor = {
        let m = NWPathMonitor()
        m.start(queue: DispatchQueue(label: "dev.bgharness.probe.network"))
        return m
    }()

    func networkUp() -> Bool { monitor.currentPath.status == .satisfied }

    /// Where uploads go: env BGPROBE_UPLOAD_URL (set it to a lab server), else example.com.
    static let endpoint = URL(string: ProcessInfo.processInfo.environment["BGPROBE_UPLOAD_URL"] ?? "https://example.com/")!

    func keychainRead(_ accessibility: String) -> Int { Keychain.read(accessibility) }

    func fileAccess(op: String, protection: String) -> Bool {
        // Foundation's FileProtectionType (facts B8).
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bgprobe-\(protection)")
        let type: FileProtectionType = [
            "complete": .complete, "complete_unless_open": .completeUnlessOpen,
            "complete_until_first_user_authentication": .completeUntilFirstUserAuthentication,
        ][protection] ?? .none
        if op == "write" {
            return FileManager.default.createFile(atPath: url.path, contents: Data("bgprobe".utf8), attributes: [.protectionKey: type])
        }
        return (try? Data(contentsOf: url)) != nil
    }

    func beginBackgroundTask(_ name: String, onExpire: @escaping () -> Void) {
        // UIApplication.h: beginBackgroundTaskWithName:expirationHandler: (facts B4).
        // Its expiration handler runs on the main thread; the runner lives on `queue`.
        tasks[name] = UIApplication.shared.beginBackgroundTask(withName: name) { [queue] in queue.sync(execute: onExpire) }
    }

    func endBackgroundTask(_ name: String) {
        if let id = tasks.removeValue(forKey: name) { UIApplication.shared.endBackgroundTask(id) }
    }

    func upload(bytes: Int, done: @escaping (Int) -> Void) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bgprobe-upload")
        try? Data(count: bytes).write(to: file)
        var request = URLRequest(url: Self.endpoint)
        request.httpMethod = "POST"
        let task = session.uploadTask(with: request, fromFile: file)
        uploads[task.taskIdentifier] = done
        task.resume()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        uploads.removeValue(forKey: task.taskIdentifier)?((error as NSError?)?.code ?? 0)
    }

    func allocate(mb: Int) -> Bool {
        let size = mb << 20
        guard let block = malloc(size) else { return false }
        memset(block, 1, size)  // touched, so it counts against the app's footprint
        memory.append(block)
        return true
    }

    /// A busy loop on a background queue of its own for `seconds` of wall time: in each 100 ms
    /// slice it spins `percent` % of the slice and sleeps the rest, so one core runs at about
    /// `percent` % (the CPU monitor's question: facts G6, B2). `done` runs on the runner's queue.
    func burnCPU(seconds: Int, percent: Int, done: @escaping () -> Void) {
        let runner = queue
        let finished = UncheckedCallback(done)
        DispatchQueue(label: "dev.bgharness.probe.cpu", qos: .utility).async {
            let end = Date().addingTimeInterval(Double(seconds))
            let slice = 0.1
            while Date() < end {
                let busyUntil = Date().addingTimeInterval(slice * Double(percent) / 100)
                while Date() < busyUntil {}  // Date() is an opaque call: the loop is not elided
                let rest = slice * Double(100 - percent) / 100
                if rest > 0 { Thread.sleep(forTimeInterval: rest) }
            }
            runner.async { finished.call() }
        }
    }

    func gpuWork() -> Bool {
        // MTLCreateSystemDefaultDevice, an empty command buffer committed and waited for.
        guard let device = MTLCreateSystemDefaultDevice(), let queue = device.makeCommandQueue(),
              let buffer = queue.makeCommandBuffer() else { return false }
        buffer.commit()
        buffer.waitUntilCompleted()
        return buffer.error == nil
    }
}

/// The runner's callback carried to the busy loop's queue and back: it is only ever called on the
/// runner's queue, where it was made.
private final class UncheckedCallback: @unchecked Sendable {
    let call: () -> Void
    init(_ call: @escaping () -> Void) { self.call = call }
}
