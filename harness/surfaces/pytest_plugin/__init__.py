"""pytest_plugin: a layer of bgharness (docs/architecture.md)."""
