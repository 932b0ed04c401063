// Plan decoding: every plan of conformance/plans.json (the suites' plans among them) decodes,
// every invalid one is refused with bgharness's path, and the enums are the schema's own
// (harness/data/schemas/plan.schema.json, the one file both sides read).

import XCTest
@testable import ProbeKit

final class PlanTests: XCTestCase {
    let plans = try! Repo.json(Repo.app.appendingPathComponent("conformance/plans.json"))
    let schema = try! Repo.json(Repo.root.appendingPathComponent("harness/data/schemas/plan.schema.json"))

    func testEveryValidPlanDecodes() {
        for plan in plans["valid"]!.array {
            if case .failure(let e) = Plan.decode(plan.text) { XCTFail("\(plan.text): \(e)") }
        }
    }

    /// Every plan the suites and the virtual iPhone's tests launch (recorded by
    /// tests/test_suite_plans.py, which fails when this file is stale).
    func testEverySuitePlanDecodes() throws {
        let recorded = try Repo.json(Repo.app.appendingPathComponent("conformance/suite-plans.json")).array
        XCTAssertGreaterThanOrEqual(recorded.count, 20)
        for plan in recorded {
            if case .failure(let e) = Plan.decode(plan.text) { XCTFail("\(plan.text): \(e)") }
        }
    }

    func testEveryInvalidPlanIsRefusedWithItsPath() {
        for case let item in plans["invalid"]!.array {
            switch Plan.decode(item["plan"]!.text) {
            case .success: XCTFail("accepted \(item["plan"]!.text)")
            case .failure(let e): XCTAssertEqual(e.path, item["path"]!.string!, "\(item["plan"]!.text): \(e)")
            }
        }
    }

    func testVersionsOtherThan2AreRefusedAsVersion() {
        for text in [#"{"version": 1}"#, #"{"version": "2"}"#, #"{}"#] {
            guard case .failure(let e) = Plan.decode(text) else { return XCTFail(text) }
            XCTAssertEqual(e.reason, "version")
        }
        guard case .failure(let e) = Plan.decode(#"{"version": 2, "handler": {"work_s": NaN}}"#) else { return XCTFail() }
        XCTAssertEqual(e.reason, "not_json")
    }

    func testDecodedValuesAndDefaults() throws {
        let text = #"{"version": 2, "register": ["a.b"], "handlers": {"a.b": {"work_s": 3, "progress": {"gaps_s": [1, 2]}}}, "taps": {"go": [{"background_task": {}}]}}"#
        let plan = try Plan.decode(text).get()
        XCTAssertEqual(plan.register, ["a.b"])
        XCTAssertTrue(plan.cancelAll)
        XCTAssertEqual(plan.handler(for: "a.b").workS, 3)
        XCTAssertEqual(plan.handler(for: "a.b").progress?.gapsS, [1, 2])
        XCTAssertEqual(plan.handler(for: "x.y").workS, 1)
        XCTAssertEqual(plan.taps["go"], [.backgroundTask(name: "bgprobe", workS: 1, end: true)])
        XCTAssertEqual(plan.relaunch.register, ["a.b"])
        XCTAssertFalse(plan.relaunch.cancelAll)
    }

    func enumValues(_ def: JSONValue?) -> [String] { (def?["enum"]?.array ?? []).compactMap(\.string) }

    func testTheEnumsAreTheSchemas() {
        let defs = schema["$defs"]!
        let action = defs["action"]!["properties"]!
        XCTAssertEqual(schema["properties"]!["version"]!["const"], .int(Plan.version))
        XCTAssertEqual(enumValues(defs["request"]!["properties"]!["type"]), Schema.requestTypes)
        XCTAssertEqual(enumValues(defs["request"]!["properties"]!["strategy"]), Schema.strategies)
        XCTAssertEqual(enumValues(action["keychain"]), Schema.keychainClasses)
        XCTAssertEqual(enumValues(action["file"]!["properties"]!["op"]), Schema.fileOps)
        XCTAssertEqual(enumValues(action["file"]!["properties"]!["protection"]), Schema.protections)
        XCTAssertEqual(enumValues(defs["progress"]!["properties"]!["as"]), Schema.progressForms)
        XCTAssertEqual(enumValues(defs["handler"]!["properties"]!["complete"]), Schema.completions)
        XCTAssertEqual(enumValues(defs["handler"]!["properties"]!["resubmit"]), Schema.resubmits)
        XCTAssertEqual(enumValues(defs["handler"]!["properties"]!["resubmit_id"]), Schema.resubmitIDs)
        guard case .object(let keys) = action else { return XCTFail() }
        XCTAssertEqual(keys.keys.sorted(), Schema.actionKeys.sorted())
    }
}
