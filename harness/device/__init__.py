"""device: a layer of bgharness (docs/architecture.md)."""
