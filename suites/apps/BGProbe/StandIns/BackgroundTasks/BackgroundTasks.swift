// Stand-in for BackgroundTasks, so the shell type-checks on Linux. Written from the public iOS 26
// SDK headers BGTaskScheduler.h, BGTaskRequest.h and BGTask.h, as Swift imports them (names,
// labels, optionality, throwing). Our reading of the headers, not the SDK: only the declarations
// the shell uses, and no behaviour (every body traps).

import Foundation

/// BGTaskScheduler.h: `NSErrorDomain const BGTaskSchedulerErrorDomain`.
public let BGTaskSchedulerErrorDomain = "BGTaskSchedulerErrorDomain"

/// BGTaskRequest.h: abstract; `identifier` (readonly, copy), `earliestBeginDate` (copy, nullable).
open class BGTaskRequest: NSObject {
    public let identifier: String
    open var earliestBeginDate: Date?
    init(_ identifier: String) { self.identifier = identifier }
}

/// BGTaskRequest.h: `- (instancetype)initWithIdentifier:(NSString *)identifier;`
public final class BGAppRefreshTaskRequest: BGTaskRequest {
    public init(identifier: String) { super.init(identifier) }
}

/// BGTaskRequest.h: `requiresNetworkConnectivity`, `requiresExternalPower` (assign BOOL).
public class BGProcessingTaskRequest: BGTaskRequest {
    public var requiresNetworkConnectivity = false
    public var requiresExternalPower = false
    public init(identifier: String) { super.init(identifier) }
}

/// BGTaskRequest.h (iOS 26): `initWithIdentifier:title:subtitle:`; `strategy`
/// (NS_SWIFT_NAME SubmissionStrategy: Fail, Queue) and `requiredResources` (NS_SWIFT_NAME
/// Resources; Default = 0 has no Swift name, GPU is `.gpu`).
@available(iOS 26.0, *)
public final class BGContinuedProcessingTaskRequest: BGTaskRequest {
    public enum SubmissionStrategy: Int { case fail = 0, queue = 1 }
    public struct Resources: OptionSet {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public static let gpu = Resources(rawValue: 1 << 0)
    }
    public var title: String
    public var subtitle: String
    public var strategy: SubmissionStrategy = .queue
    public var requiredResources: Resources = []
    public init(identifier: String, title: String, subtitle: String) {
        self.title = title
        self.subtitle = subtitle
        super.init(identifier)
    }
}

/// BGTask.h: `identifier`, `expirationHandler` (nullable block), `setTaskCompletedWithSuccess:`.
open class BGTask: NSObject {
    open var identifier: String { fatalError("stand-in") }
    open var expirationHandler: (() -> Void)?
    open func setTaskCompleted(success: Bool) { fatalError("stand-in") }
}

public final class BGAppRefreshTask: BGTask {}
public final class BGProcessingTask: BGTask {}

/// BGTask.h (iOS 26): `BGTask<NSProgressReporting>` with `title`, `subtitle` (readonly) and
/// `updateTitle:subtitle:`.
@available(iOS 26.0, *)
public final class BGContinuedProcessingTask: BGTask {
    public var title: String { fatalError("stand-in") }
    public var subtitle: String { fatalError("stand-in") }
    public var progress: Progress { fatalError("stand-in") }
    public func updateTitle(_ title: String, subtitle: String) { fatalError("stand-in") }
}

/// BGTaskScheduler.h: `sharedScheduler` (Swift: `shared`), `supportedResources` (class, iOS 26),
/// `registerForTaskWithIdentifier:usingQueue:launchHandler:` -> BOOL,
/// `submitTaskRequest:error:` (Swift: `submit(_:) throws`), `cancelTaskRequestWithIdentifier:`,
/// `cancelAllTaskRequests`.
public final class BGTaskScheduler: NSObject {
    public static let shared = BGTaskScheduler()

    @available(iOS 26.0, *)
    public class var supportedResources: BGContinuedProcessingTaskRequest.Resources { fatalError("stand-in") }

    public func register(
        forTaskWithIdentifier identifier: String,
        using queue: DispatchQueue?,
        launchHandler: @escaping (BGTask) -> Void
    ) -> Bool { fatalError("stand-in") }

    public func submit(_ taskRequest: BGTaskRequest) throws { fatalError("stand-in") }
    public func cancel(taskRequestWithIdentifier identifier: String) { fatalError("stand-in") }
    public func cancelAllTaskRequests() { fatalError("stand-in") }
}
