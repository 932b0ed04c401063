import pytest

pytest_plugins = ["pytester", "tests.fakephone.fixtures"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long fuzzing runs only when asked for (`pytest tests -m fuzz_long`, the nightly)."""
    if "fuzz_long" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="long fuzzing: select it with -m fuzz_long")
    for item in items:
        if item.get_closest_marker("fuzz_long"):
            item.add_marker(skip)
