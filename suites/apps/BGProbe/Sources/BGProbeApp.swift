// BGProbe's iOS shell: the app delegate. It reads the plan (env BGPROBE_PLAN, else the stored
// one), hands it to ProbeKit's runner, and shows one button per tap of the plan (accessibility
// identifier `bgprobe.tap.<name>`) for WebDriverAgent or a person to tap. Everything the probe
// does is ProbeKit's; this file and Adapters.swift only connect it to iOS.

import Foundation
import ProbeKit
import UIKit

@main
final class AppDelegate: UIResponder, UIApplicationDelegate {
    var window: UIWindow?
    private let shell = Shell()

    // UIApplicationDelegate: every launch handler is registered before this returns (facts B7).
    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]?
    ) -> Bool {
        let reason = application.applicationState == .background ? "background" : "user"
        let taps = shell.launch(reason: reason)
        let window = UIWindow(frame: UIScreen.main.bounds)
        window.rootViewController = ButtonsController(taps: taps) { [shell] name in shell.tap(name) }
        window.makeKeyAndVisible()
        self.window = window
        return true
    }
}

/// The runner on its own serial queue: launch handlers run there too (register(using: queue)),
/// never on the main actor (facts B7: actor-isolated handler closures trap under Swift 6).
final class Shell {
    static let storeKey = "BGProbePlan"
    let queue = DispatchQueue(label: "dev.bgharness.probe.runner")
    private var runner: ProbeRunner!

    /// The plan's tap names, for the buttons.
    func launch(reason: String) -> [String] {
        queue.sync {
            let scheduler = SchedulerAdapter(queue: queue)
            runner = ProbeRunner(scheduling: scheduler, services: ServicesAdapter(queue: queue), clock: DispatchClock(queue: queue)) { Log.write($0) }
            scheduler.runner = runner
            if let text = ProcessInfo.processInfo.environment["BGPROBE_PLAN"] {
                switch Plan.decode(text) {
                case .success(let plan):
                    UserDefaults.standard.set(text, forKey: Shell.storeKey)
                    Keychain.prepare()
                    runner.launch(plan, reason: reason)
                    return plan.taps.keys.sorted()
                case .failure(let error):
                    runner.reject(reason: reason, error: error)
                    return []
                }
            }
            // A relaunch by the system: register again and follow the handlers, nothing else.
            let stored = UserDefaults.standard.string(forKey: Shell.storeKey).flatMap { try? Plan.decode($0).get() }
            runner.launch((stored ?? Plan()).relaunch, reason: reason)
            return []
        }
    }

    func tap(_ name: String) {
        queue.async { self.runner.tap(name) }
    }
}

final class ButtonsController: UIViewController {
    private let taps: [String]
    private let onTap: (String) -> Void

    init(taps: [String], onTap: @escaping (String) -> Void) {
        self.taps = taps
        self.onTap = onTap
        super.init()
        let buttons = taps.map { name -> UIView in
            let button = UIButton(type: .system)
            button.setTitle(name, for: .normal)
            button.accessibilityIdentifier = "bgprobe.tap.\(name)"
            button.addAction(UIAction { [onTap] _ in onTap(name) }, for: .touchUpInside)
            return button
        }
        let stack = UIStackView(arrangedSubviews: buttons)
        stack.axis = .vertical
        stack.accessibilityIdentifier = "bgprobe.root"
        view.backgroundColor = .systemBackground
        view.addSubview(stack)
    }
}
