// Every fixture of the conformance table (suites/apps/BGProbe/conformance/fixtures.json) against
// ProbeKit: exactly the events and calls the virtual iPhone's probe produces for it.

import XCTest
@testable import ProbeKit

final class ConformanceTests: XCTestCase {
    func fixtures() throws -> [JSONValue] {
        try Repo.json(Repo.app.appendingPathComponent("conformance/fixtures.json"))["fixtures"]!.array
    }

    func testTheTableHasAtLeast40Fixtures() throws {
        XCTAssertGreaterThanOrEqual(try fixtures().count, 40)
    }

    func testEveryFixture() throws {
        var failed: [String] = []
        for fixture in try fixtures() {
            let name = fixture["name"]!.string!
            let (events, calls) = try runFixture(fixture)
            let wantCalls = fixture["calls"]!.array.compactMap(\.string)
            if events != fixture["events"]!.array || calls != wantCalls {
                failed.append(name)
                XCTFail("""
                    fixture '\(name)':
                      events \(JSONValue.array(events).text)
                      wanted \(fixture["events"]!.text)
                      calls  \(calls)
                      wanted \(wantCalls)
                    """)
            }
        }
        XCTAssertEqual(failed, [])
    }
}
