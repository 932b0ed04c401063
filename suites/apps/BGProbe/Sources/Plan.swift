// The plan: what to register, submit and do in each handler. It follows
// suites/apps/BGProbe/plan.schema.json (the single source of truth; bgharness validates every
// plan against it before launch), arrives in env BGPROBE_PLAN with identifiers in full, and is
// kept in UserDefaults so a background relaunch by the system follows it again.

import Foundation

struct Plan: Codable {
    var cancel_all: Bool = true
    var register: [String] = []
    var submit: [Request] = []
    var handler: Handler? = nil
    var handlers: [String: Handler]? = nil

    struct Request: Codable {
        var type: String  // refresh | processing | continued
        var id: String
        var earliest_begin_s: Double? = nil
        var requires_network: Bool? = nil
        var requires_power: Bool? = nil
        var title: String? = nil
        var subtitle: String? = nil
        var strategy: String? = nil  // queue | fail
        var gpu: Bool? = nil
    }

    struct Handler: Codable {
        var work_s: Double? = nil
        var progress_every_s: Double? = nil
        var expiration_handler: Bool? = nil
        var complete: String? = nil  // success | failure | never
        var resubmit: Bool? = nil
        var keychain: String? = nil  // when_unlocked | after_first_unlock
    }

    func handler(for task: String) -> Handler {
        handlers?[task] ?? handler ?? Handler()
    }

    func request(for task: String) -> Request? {
        submit.first { $0.id == task }
    }

    private static let storeKey = "BGProbePlan"

    /// The plan for this launch, and whether it came with the launch (env) or from storage.
    static func current() -> (Plan, launchedWithPlan: Bool) {
        if let text = ProcessInfo.processInfo.environment["BGPROBE_PLAN"],
           let plan = try? JSONDecoder().decode(Plan.self, from: Data(text.utf8)) {
            UserDefaults.standard.set(Data(text.utf8), forKey: storeKey)
            return (plan, true)
        }
        if let data = UserDefaults.standard.data(forKey: storeKey),
           var plan = try? JSONDecoder().decode(Plan.self, from: data) {
            // A relaunch by the system: register again, submit nothing, cancel nothing.
            plan.cancel_all = false
            plan.submit = []
            return (plan, false)
        }
        return (Plan(), false)
    }
}
