// Stand-in for os.Logger (os/Logger.swift): a message with `privacy:` interpolations. No behaviour.

public struct OSLogPrivacy {
    public static let `public` = OSLogPrivacy()
    public static let `private` = OSLogPrivacy()
}

public struct OSLogMessage: ExpressibleByStringInterpolation {
    public struct StringInterpolation: StringInterpolationProtocol {
        public init(literalCapacity: Int, interpolationCount: Int) {}
        public mutating func appendLiteral(_ literal: String) {}
        public mutating func appendInterpolation(_ value: String, privacy: OSLogPrivacy = .private) {}
    }
    public init(stringLiteral value: String) {}
    public init(stringInterpolation: StringInterpolation) {}
}

public struct Logger {
    public init(subsystem: String, category: String) {}
    public func notice(_ message: OSLogMessage) { fatalError("stand-in") }
    public func error(_ message: OSLogMessage) { fatalError("stand-in") }
}
