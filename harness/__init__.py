"""bgharness: test iOS background work (BGTaskScheduler) on iPhones from pytest."""

__version__ = "0.1.0"
