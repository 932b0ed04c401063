"""The `bgharness` console script: a shell over the library, one module per verb group.

`main` is the one place that turns a `HarnessError` into `bgharness: <message>` on stderr and
exit code 2; verbs raise, they never print tracebacks or call `sys.exit`. To add a verb group,
write a module with `register(verbs)` (argparse sub-parsers, each with `run=`) and list it in
`VERB_MODULES`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness.core.errors import HarnessError
from harness.surfaces.cli import debug, devices, lab, observations, parse

VERB_MODULES = (parse, lab, devices, debug, observations)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bgharness", description="Test iOS background tasks on iPhones."
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for module in VERB_MODULES:
        module.register(verbs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; the exit code: 0 done, 2 a HarnessError (printed as one line)."""
    args = _parser().parse_args(argv)
    try:
        args.run(args)
    except HarnessError as error:
        print(f"bgharness: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
