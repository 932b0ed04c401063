// The plan, version 2: decoding exactly what harness/data/schemas/plan.schema.json allows (the single
// source of truth; ProbeKit's tests read that file), failing with the same paths as bgharness
// (`plan.submit[0].id`). Hand-written rather than generic: each rule below is one of the schema's.

import Foundation

public struct PlanError: Error, Equatable, CustomStringConvertible {
    public let reason: String  // invalid | version | not_json (plan.rejected's `reason`)
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}

public struct Request: Equatable {
    public var type: String
    public var id: String
    public var earliestBeginS: Double? = nil
    public var requiresNetwork = false
    public var requiresPower = false
    public var title = "BG Probe"
    public var subtitle = "Working"
    public var strategy = "queue"
    public var gpu = false
}

public struct ProgressSpec: Equatable {
    public var everyS: Double? = nil
    public var gapsS: [Double] = []
    public var form = "units"
    public var needsNetwork = false
}

public enum Action: Equatable {
    case register(String)
    case submit(Request)
    case cancel(String)
    case cancelAll
    case keychain(String)
    case file(op: String, protection: String)
    case backgroundTask(name: String, workS: Double, end: Bool)
    case upload(bytes: Int)
    case allocate(mb: Int)
    case gpuWork
    case cpu(seconds: Int, percent: Int)
}

public struct Step: Equatable {
    public var atS: Double
    public var actions: [Action]
}

public struct Handler: Equatable {
    public var workS = 1.0
    public var progress: ProgressSpec? = nil
    public var expirationHandler = true
    public var complete = "success"
    public var resubmit: String? = nil
    public var resubmitID = "same"
    public var actions: [Action] = []
    public init() {}
}

public struct Plan: Equatable {
    public static let version = 2
    public var cancelAll = true
    public var register: [String] = []
    public var submit: [Request] = []
    public var afterLaunch: [Step] = []
    public var taps: [String: [Action]] = [:]
    public var handler = Handler()
    public var handlers: [String: Handler] = [:]
    public init() {}

    public func handler(for task: String) -> Handler { handlers[task] ?? handler }
    public func request(for task: String) -> Request? { submit.first { $0.id == task } }

    /// What a background relaunch by the system follows: register and handlers, nothing else.
    public var relaunch: Plan {
        var p = Plan()
        p.cancelAll = false
        p.register = register
        p.handler = handler
        p.handlers = handlers
        return p
    }

    /// The plan as the app receives it in env BGPROBE_PLAN.
    public static func decode(_ text: String) -> Result<Plan, PlanError> {
        guard let value = try? JSONValue.parse(text) else {
            return .failure(PlanError(reason: "not_json", path: "plan", message: "BGPROBE_PLAN is not JSON"))
        }
        do { return .success(try Decoder().plan(value)) } catch let e as PlanError { return .failure(e) } catch {
            return .failure(PlanError(reason: "invalid", path: "plan", message: "\(error)"))
        }
    }
}

// The schema's enums and bounds (ProbeKit's tests compare them with plan.schema.json).
public enum Schema {
    public static let requestTypes = ["refresh", "processing", "continued"]
    public static let strategies = ["queue", "fail"]
    public static let keychainClasses = [
        "when_unlocked", "after_first_unlock", "when_unlocked_this_device_only",
        "after_first_unlock_this_device_only", "when_passcode_set_this_device_only",
    ]
    public static let fileOps = ["write", "read"]
    public static let protections = ["complete", "complete_unless_open", "complete_until_first_user_authentication", "none"]
    public static let progressForms = ["units", "child", "fraction"]
    public static let completions = ["success", "failure", "never"]
    public static let resubmits = ["on_start", "on_expiry"]
    public static let resubmitIDs = ["same", "fresh"]
    public static let actionKeys = [
        "register", "submit", "cancel", "cancel_all", "keychain", "file", "background_task", "upload",
        "allocate_mb", "gpu_work", "cpu",
    ]
    public static let maxSeconds = 1_000_000.0
}

private struct Decoder {
    typealias Object = [String: JSONValue]

    func fail(_ path: String, _ message: String, _ reason: String = "invalid") -> PlanError {
        PlanError(reason: reason, path: path, message: message)
    }

    func object(_ v: JSONValue, _ path: String, allowed: [String], required: [String] = []) throws -> Object {
        guard case .object(let o) = v else { throw fail(path, "\(v) is not of type 'object'") }
        for key in required where o[key] == nil { throw fail(path, "'\(key)' is a required property") }
        if let extra = o.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail(path, "Additional properties are not allowed ('\(extra)' was unexpected)")
        }
        return o
    }

    func array(_ v: JSONValue, _ path: String, max: Int, min: Int = 0) throws -> [JSONValue] {
        guard case .array(let a) = v else { throw fail(path, "\(v) is not of type 'array'") }
        if a.count > max { throw fail(path, "is too long") }
        if a.count < min { throw fail(path, "should be non-empty") }
        return a
    }

    func bool(_ v: JSONValue, _ path: String) throws -> Bool {
        guard case .bool(let b) = v else { throw fail(path, "\(v) is not of type 'boolean'") }
        return b
    }

    func number(_ v: JSONValue, _ path: String, min: Double, max: Double) throws -> Double {
        guard let d = v.number else { throw fail(path, "\(v) is not of type 'number'") }
        if d < min { throw fail(path, "\(v) is less than the minimum of \(min)") }
        if d > max { throw fail(path, "\(v) is greater than the maximum of \(max)") }
        return d
    }

    func integer(_ v: JSONValue, _ path: String, min: Int, max: Int) throws -> Int {
        guard let d = v.number, d == d.rounded() else { throw fail(path, "\(v) is not of type 'integer'") }
        _ = try number(v, path, min: Double(min), max: Double(max))
        return Int(d)
    }

    func string(_ v: JSONValue, _ path: String, maxLength: Int = .max) throws -> String {
        guard case .string(let s) = v else { throw fail(path, "\(v) is not of type 'string'") }
        if s.unicodeScalars.count > maxLength { throw fail(path, "is too long") }
        return s
    }

    func oneOf(_ v: JSONValue, _ path: String, _ values: [String]) throws -> String {
        guard case .string(let s) = v, values.contains(s) else { throw fail(path, "\(v) is not one of \(values)") }
        return s
    }

    /// `^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*(\.\*)?` to the very end (no final newline).
    static func isIdentifier(_ s: String) -> Bool {
        guard s.unicodeScalars.count <= 127 else { return false }
        var body = Substring(s)
        if body.hasSuffix(".*") { body = body.dropLast(2) }
        let word = { (w: Substring) in !w.isEmpty && w.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-") } }
        let parts = body.split(separator: ".", omittingEmptySubsequences: false)
        guard let first = parts.first, let head = first.unicodeScalars.first,
              head.isASCII, CharacterSet.alphanumerics.contains(head) else { return false }
        return parts.allSatisfy(word)
    }

    func identifier(_ v: JSONValue, _ path: String) throws -> String {
        let s = try string(v, path, maxLength: 127)
        guard Decoder.isIdentifier(s) else { throw fail(path, "'\(s)' is not a task identifier") }
        return s
    }

    func plan(_ v: JSONValue) throws -> Plan {
        guard case .object(let o) = v else { throw fail("plan", "must be a JSON object") }
        guard let version = o["version"] else { throw fail("plan.version", "the plan names no version", "version") }
        guard case .int(Plan.version) = version else {
            throw fail("plan.version", "\(version) is not understood by this probe build (it understands \(Plan.version))", "version")
        }
        let root = try object(v, "plan", allowed: ["version", "cancel_all", "register", "submit", "after_launch", "taps", "handler", "handlers"])
        var p = Plan()
        if let c = root["cancel_all"] { p.cancelAll = try bool(c, "plan.cancel_all") }
        if let r = root["register"] {
            p.register = try array(r, "plan.register", max: 64).enumerated().map { try identifier($1, "plan.register[\($0)]") }
        }
        if let s = root["submit"] {
            p.submit = try array(s, "plan.submit", max: 64).enumerated().map { try request($1, "plan.submit[\($0)]") }
        }
        if let a = root["after_launch"] {
            p.afterLaunch = try array(a, "plan.after_launch", max: 64).enumerated().map { i, step in
                let at = "plan.after_launch[\(i)]"
                let o = try object(step, at, allowed: ["at_s", "do"], required: ["at_s", "do"])
                return Step(atS: try number(o["at_s"]!, "\(at).at_s", min: 0, max: Schema.maxSeconds),
                            actions: try actions(o["do"]!, "\(at).do"))
            }
        }
        if let t = root["taps"] {
            guard case .object(let taps) = t else { throw fail("plan.taps", "\(t) is not of type 'object'") }
            if taps.count > 16 { throw fail("plan.taps", "has too many properties") }
            for name in taps.keys.sorted() {
                guard Decoder.isTapName(name) else { throw fail("plan.taps", "'\(name)' does not match") }
                p.taps[name] = try actions(taps[name]!, "plan.taps.\(name)")
            }
        }
        if let h = root["handler"] { p.handler = try handler(h, "plan.handler") }
        if let hs = root["handlers"] {
            guard case .object(let handlers) = hs else { throw fail("plan.handlers", "\(hs) is not of type 'object'") }
            if handlers.count > 64 { throw fail("plan.handlers", "has too many properties") }
            for key in handlers.keys.sorted() {
                _ = try identifier(.string(key), "plan.handlers")
                p.handlers[key] = try handler(handlers[key]!, "plan.handlers.\(key)")
            }
        }
        return p
    }

    static func isTapName(_ s: String) -> Bool {
        let scalars = Array(s.unicodeScalars)
        guard (1...32).contains(scalars.count), ("a"..."z").contains(scalars[0]) else { return false }
        return scalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
    }

    func request(_ v: JSONValue, _ path: String) throws -> Request {
        let keys = ["type", "id", "earliest_begin_s", "requires_network", "requires_power", "title", "subtitle", "strategy", "gpu"]
        let o = try object(v, path, allowed: keys, required: ["type", "id"])
        var r = Request(type: try oneOf(o["type"]!, "\(path).type", Schema.requestTypes), id: try identifier(o["id"]!, "\(path).id"))
        if let e = o["earliest_begin_s"] { r.earliestBeginS = try number(e, "\(path).earliest_begin_s", min: 0, max: 1e9) }
        if let b = o["requires_network"] { r.requiresNetwork = try bool(b, "\(path).requires_network") }
        if let b = o["requires_power"] { r.requiresPower = try bool(b, "\(path).requires_power") }
        if let s = o["title"] { r.title = try string(s, "\(path).title", maxLength: 200) }
        if let s = o["subtitle"] { r.subtitle = try string(s, "\(path).subtitle", maxLength: 200) }
        if let s = o["strategy"] { r.strategy = try oneOf(s, "\(path).strategy", Schema.strategies) }
        if let b = o["gpu"] { r.gpu = try bool(b, "\(path).gpu") }
        let notFor: [String: [String]] = [
            "refresh": ["requires_network", "requires_power", "title", "subtitle", "strategy", "gpu"],
            "processing": ["title", "subtitle", "strategy", "gpu"],
            "continued": ["requires_network", "requires_power"],
        ]
        let extra = notFor[r.type]!.filter { o[$0] != nil }
        if !extra.isEmpty { throw fail(path, "\(extra.joined(separator: ", ")) do not apply to a \(r.type) request") }
        return r
    }

    func actions(_ v: JSONValue, _ path: String) throws -> [Action] {
        try array(v, path, max: 32).enumerated().map { try action($1, "\(path)[\($0)]") }
    }

    func action(_ v: JSONValue, _ path: String) throws -> Action {
        let o = try object(v, path, allowed: Schema.actionKeys)
        guard o.count == 1, let (key, arg) = o.first else {
            throw fail(path, "an action has exactly one key, not \(o.keys.sorted())")
        }
        let at = "\(path).\(key)"
        switch key {
        case "register": return .register(try identifier(arg, at))
        case "submit": return .submit(try request(arg, at))
        case "cancel": return .cancel(try identifier(arg, at))
        case "cancel_all":
            guard arg == .bool(true) else { throw fail(at, "True was expected") }
            return .cancelAll
        case "keychain": return .keychain(try oneOf(arg, at, Schema.keychainClasses))
        case "file":
            let f = try object(arg, at, allowed: ["op", "protection"], required: ["op", "protection"])
            return .file(op: try oneOf(f["op"]!, "\(at).op", Schema.fileOps),
                         protection: try oneOf(f["protection"]!, "\(at).protection", Schema.protections))
        case "background_task":
            let b = try object(arg, at, allowed: ["name", "work_s", "end"])
            var name = "bgprobe"
            if let n = b["name"] {
                name = try string(n, "\(at).name")
                let ok = (1...64).contains(name.unicodeScalars.count) && name.unicodeScalars.allSatisfy {
                    $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0))
                }
                if !ok { throw fail("\(at).name", "'\(name)' does not match") }
            }
            return .backgroundTask(
                name: name,
                workS: try b["work_s"].map { try number($0, "\(at).work_s", min: 0, max: Schema.maxSeconds) } ?? 1,
                end: try b["end"].map { try bool($0, "\(at).end") } ?? true)
        case "upload":
            let u = try object(arg, at, allowed: ["bytes"], required: ["bytes"])
            return .upload(bytes: try integer(u["bytes"]!, "\(at).bytes", min: 1, max: 1_000_000_000))
        case "allocate_mb": return .allocate(mb: try integer(arg, at, min: 1, max: 16384))
        case "cpu":
            let c = try object(arg, at, allowed: ["seconds", "percent"], required: ["seconds", "percent"])
            return .cpu(seconds: try integer(c["seconds"]!, "\(at).seconds", min: 1, max: 3600),
                        percent: try integer(c["percent"]!, "\(at).percent", min: 1, max: 100))
        default:
            guard arg == .bool(true) else { throw fail(at, "True was expected") }
            return .gpuWork
        }
    }

    func handler(_ v: JSONValue, _ path: String) throws -> Handler {
        let o = try object(v, path, allowed: ["work_s", "progress", "expiration_handler", "complete", "resubmit", "resubmit_id", "do"])
        var h = Handler()
        if let w = o["work_s"] { h.workS = try number(w, "\(path).work_s", min: 0, max: Schema.maxSeconds) }
        if let p = o["progress"] { h.progress = try progress(p, "\(path).progress") }
        if let e = o["expiration_handler"] { h.expirationHandler = try bool(e, "\(path).expiration_handler") }
        if let c = o["complete"] { h.complete = try oneOf(c, "\(path).complete", Schema.completions) }
        if let r = o["resubmit"] { h.resubmit = try oneOf(r, "\(path).resubmit", Schema.resubmits) }
        if let r = o["resubmit_id"] { h.resubmitID = try oneOf(r, "\(path).resubmit_id", Schema.resubmitIDs) }
        if let d = o["do"] { h.actions = try actions(d, "\(path).do") }
        return h
    }

    func progress(_ v: JSONValue, _ path: String) throws -> ProgressSpec {
        let o = try object(v, path, allowed: ["every_s", "gaps_s", "as", "needs_network"])
        guard (o["every_s"] == nil) != (o["gaps_s"] == nil) else { throw fail(path, "give exactly one of every_s or gaps_s") }
        var p = ProgressSpec()
        if let e = o["every_s"] { p.everyS = try number(e, "\(path).every_s", min: 0.01, max: 86400) }
        if let g = o["gaps_s"] {
            p.gapsS = try array(g, "\(path).gaps_s", max: 1000, min: 1).enumerated().map {
                try number($1, "\(path).gaps_s[\($0)]", min: 0, max: 86400)
            }
        }
        if let a = o["as"] { p.form = try oneOf(a, "\(path).as", Schema.progressForms) }
        if let n = o["needs_network"] { p.needsNetwork = try bool(n, "\(path).needs_network") }
        return p
    }
}
