import pytest

from harness.core.debugger import (
    check_task_id,
    parse_simulate_command,
    simulate_expiration_command,
    simulate_launch_command,
)
from harness.core.errors import UsageError


def test_the_commands_are_apples_recipe_verbatim():
    # facts A1, from Apple's "Starting and Terminating Tasks During Development".
    assert simulate_launch_command("com.example.refresh") == (
        "e -l objc -- (void)[[BGTaskScheduler sharedScheduler] "
        '_simulateLaunchForTaskWithIdentifier:@"com.example.refresh"]'
    )
    assert simulate_expiration_command("com.example.refresh") == (
        "e -l objc -- (void)[[BGTaskScheduler sharedScheduler] "
        '_simulateExpirationForTaskWithIdentifier:@"com.example.refresh"]'
    )


def test_commands_parse_back():
    assert parse_simulate_command(simulate_launch_command("a.b")) == ("launch", "a.b")
    assert parse_simulate_command(simulate_expiration_command("a.b-c_d")) == (
        "expiration",
        "a.b-c_d",
    )
    assert parse_simulate_command("p (int)getpid()") is None


@pytest.mark.parametrize(
    "task",
    [
        'a"]; process kill; ["',
        "a b",
        "",
        ".starts.with.dot",
        "new\nline",
        "x" * 128,
        "com.x.*",
        "é.x",
    ],
)
def test_nothing_but_identifier_characters_reaches_lldb(task):
    with pytest.raises(UsageError, match="is not a task identifier"):
        simulate_launch_command(task)


def test_a_good_identifier_passes():
    assert check_task_id("dev.bgharness.probe.continued.6F9619FF-8B86") == (
        "dev.bgharness.probe.continued.6F9619FF-8B86"
    )
