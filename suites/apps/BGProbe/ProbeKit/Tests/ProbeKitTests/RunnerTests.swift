// The runner, the progress engine and the line format, beyond the conformance table.

import XCTest
@testable import ProbeKit

final class RunnerTests: XCTestCase {
    func testTheLineIsBgprobeAndSortedCompactJSON() {
        let event = ProbeEvent(kind: "task.progress", task: "a.b/c", attrs: ["total": .int(4), "completed": .int(1)])
        XCTAssertEqual(event.line, #"bgprobe {"completed":1,"event":"task.progress","task":"a.b/c","total":4}"#)
        XCTAssertEqual(try JSONValue.parse(String(event.line.dropFirst(8))), event.body)
    }

    func testProgressUnitsAreBounded() {
        var h = Handler()
        h.workS = 1_000_000
        h.progress = ProgressSpec(everyS: 0.01)
        XCTAssertEqual(progressUnits(h), maxUnits)
        h.workS = 0
        XCTAssertEqual(progressUnits(h), 1)
        h.progress = ProgressSpec(gapsS: [0, 0, 0])
        XCTAssertEqual(progressUnits(h), 3)
    }

    func testFreshIdentifiersReplaceTheirSuffix() {
        XCTAssertEqual(freshID("a.export-1", 1), "a.export-1-r1")
        XCTAssertEqual(freshID("a.export-1-r1", 2), "a.export-1-r2")
        XCTAssertEqual(freshID("a.my-refresh", 3), "a.my-refresh-r3")
        XCTAssertEqual(freshID("a.b-r", 1), "a.b-r-r1")
    }

    func testAHugeProgressPlanKeepsOneTimerAtATime() throws {
        let text = #"{"version": 2, "register": ["a.b"], "handler": {"work_s": 1000000, "progress": {"every_s": 0.01}}}"#
        let system = FakeSystem()
        let clock = ManualClock()
        var count = 0
        let probe = ProbeRunner(scheduling: system, services: system, clock: clock) { _ in count += 1 }
        probe.launch(try Plan.decode(text).get(), reason: "user")
        probe.run(FakeTask(system, "a.b", "continued"))
        clock.advance(by: 1.005)  // 0.01 added 100 times is a little over 1
        XCTAssertEqual(count, 3 + 100)  // launched, registered, task launched, 100 units
    }

    func testTheManualClockRunsTimersInOrderAndTiesFirstSetFirst() {
        let clock = ManualClock()
        var order: [Int] = []
        clock.schedule(after: 2) { order.append(3) }
        clock.schedule(after: 1) { order.append(1) }
        clock.schedule(after: 1) { order.append(2); clock.schedule(after: 0) { order.append(22) } }
        clock.schedule(after: 5) { order.append(5) }.cancel()
        clock.advance(by: 2)
        XCTAssertEqual(order, [1, 2, 22, 3])
        XCTAssertEqual(clock.now, 2)
    }
}
