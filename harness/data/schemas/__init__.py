"""Package data: the plan schema (one file, read by bgharness, ProbeKit's tests and the docs)."""
