// Stand-in for the few UIKit declarations the shell uses (UIApplication.h, UIApplicationDelegate,
// UIWindow, UIButton, UIStackView), as Swift imports them. No behaviour: every body traps.

import Foundation

public struct UIBackgroundTaskIdentifier: Equatable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let invalid = UIBackgroundTaskIdentifier(rawValue: 0)
}

open class UIResponder: NSObject {}

open class UIView: UIResponder {
    open var accessibilityIdentifier: String?
    open var backgroundColor: UIColor?
}

public final class UIColor: NSObject {
    public static let systemBackground = UIColor()
}

open class UIApplication: UIResponder {
    public enum State: Int { case active, inactive, background }
    public struct LaunchOptionsKey: Hashable, RawRepresentable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
    }
    public class var shared: UIApplication { fatalError("stand-in") }
    open var applicationState: State { fatalError("stand-in") }
    /// `beginBackgroundTaskWithName:expirationHandler:`
    open func beginBackgroundTask(withName taskName: String?, expirationHandler handler: (() -> Void)?) -> UIBackgroundTaskIdentifier { fatalError("stand-in") }
    /// `endBackgroundTask:`
    open func endBackgroundTask(_ identifier: UIBackgroundTaskIdentifier) { fatalError("stand-in") }
}

public protocol UIApplicationDelegate: AnyObject {
    var window: UIWindow? { get set }
    func application(_ application: UIApplication, didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]?) -> Bool
}

extension UIApplicationDelegate {
    /// What `@main` on an application delegate calls (UIApplicationMain).
    public static func main() { fatalError("stand-in") }
}


public final class UIScreen: NSObject {
    public static var main: UIScreen { fatalError("stand-in") }
    public var bounds: CGRect { fatalError("stand-in") }
}

open class UIWindow: UIView {
    public init(frame: CGRect) {}
    open var rootViewController: UIViewController?
    open func makeKeyAndVisible() { fatalError("stand-in") }
}

open class UIViewController: UIResponder {
    public override init() {}
    open var view: UIView! { fatalError("stand-in") }
}

public final class UIAction: NSObject {
    public init(handler: @escaping (UIAction) -> Void) {}
}

public final class UIControl {
    public struct Event: OptionSet {
        public let rawValue: UInt
        public init(rawValue: UInt) { self.rawValue = rawValue }
        public static let touchUpInside = Event(rawValue: 1 << 6)
    }
    public struct State: OptionSet {
        public let rawValue: UInt
        public init(rawValue: UInt) { self.rawValue = rawValue }
        public static let normal: State = []
    }
}

open class UIButton: UIView {
    public enum ButtonType: Int { case system = 1 }
    public init(type buttonType: ButtonType) {}
    open func setTitle(_ title: String?, for state: UIControl.State) { fatalError("stand-in") }
    open func addAction(_ action: UIAction, for controlEvents: UIControl.Event) { fatalError("stand-in") }
}

open class UIStackView: UIView {
    public enum Axis: Int { case horizontal, vertical }
    public init(arrangedSubviews views: [UIView]) {}
    open var axis: Axis = .horizontal
    open var frame: CGRect = .zero
}

extension UIView {
    public func addSubview(_ view: UIView) { fatalError("stand-in") }
}
