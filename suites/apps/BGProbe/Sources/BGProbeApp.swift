// BGProbe: the app bgharness installs. It does what its plan says (Plan.swift) and reports
// every step (Probe.swift); the UI only shows that it is running.

import SwiftUI
import UIKit

final class AppDelegate: NSObject, UIApplicationDelegate {
    func application(
        _ application: UIApplication,
        didFinishLaunchingWithOptions launchOptions: [UIApplication.LaunchOptionsKey: Any]? = nil
    ) -> Bool {
        let reason = application.applicationState == .background ? "background" : "user"
        Scheduler.shared.start(reason: reason)
        return true
    }
}

@main
struct BGProbeApp: App {
    @UIApplicationDelegateAdaptor(AppDelegate.self) var delegate

    var body: some Scene {
        WindowGroup {
            Text("BG Probe")
                .font(.title)
                .accessibilityIdentifier("bgprobe.root")
        }
    }
}
