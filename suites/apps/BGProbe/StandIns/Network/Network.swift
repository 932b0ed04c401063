// Stand-in for the path monitor of Network.framework (NWPathMonitor.h, NWPath.h, as Swift
// imports them). No behaviour.

import Foundation

public struct NWPath {
    public enum Status { case satisfied, unsatisfied, requiresConnection }
    public var status: Status { fatalError("stand-in") }
}

public final class NWPathMonitor {
    public init() {}
    public var currentPath: NWPath { fatalError("stand-in") }
    public var pathUpdateHandler: ((NWPath) -> Void)?
    public func start(queue: DispatchQueue) { fatalError("stand-in") }
    public func cancel() { fatalError("stand-in") }
}
