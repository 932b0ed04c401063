pytest_plugins = ["pytester", "tests.fakephone.fixtures"]
