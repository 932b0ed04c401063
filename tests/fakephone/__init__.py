"""A fake iPhone that the unmodified pymobiledevice3 client drives over real sockets (phone.py)."""

from tests.fakephone.phone import FakePhone, LogLine, Scenario

__all__ = ["FakePhone", "LogLine", "Scenario"]
