// The same calls spelled as BGTaskScheduler.h imports them: must type-check (the control for
// WrongCall.swift).

import BackgroundTasks

func right() throws {
    try BGTaskScheduler.shared.submit(BGAppRefreshTaskRequest(identifier: "a.b"))
    _ = BGTaskScheduler.shared.register(forTaskWithIdentifier: "a.b", using: nil) { (task: BGTask) in }
}
