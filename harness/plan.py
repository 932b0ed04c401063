"""The probe plan: what the BGProbe app does at launch, validated before it reaches a device.

`suites/apps/BGProbe/plan.schema.json` is the single source of truth; the Swift app and the
virtual iPhone both follow it. A plan that does not validate is a `PlanError` listing every
problem with its place in the plan, raised on the host before anything is launched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from harness.errors import PlanError

PLAN_SCHEMA = Path(__file__).resolve().parent.parent / "suites/apps/BGProbe/plan.schema.json"
PLAN_ENV = "BGPROBE_PLAN"


@dataclass(frozen=True)
class Request:
    """One BGTaskRequest to submit."""

    type: str
    id: str
    earliest_begin_s: float | None = None
    requires_network: bool = False
    requires_power: bool = False
    title: str = "BG Probe"
    subtitle: str = "Working"
    strategy: str = "queue"
    gpu: bool = False


@dataclass(frozen=True)
class Handler:
    """What a launch handler does when its task runs."""

    work_s: float = 1.0
    progress_every_s: float | None = None
    expiration_handler: bool = True
    complete: str = "success"
    resubmit: bool = False
    keychain: str | None = None


@dataclass(frozen=True)
class Plan:
    """A validated plan with every identifier spelled out in full."""

    cancel_all: bool = True
    register: tuple[str, ...] = ()
    submit: tuple[Request, ...] = ()
    handler: Handler = field(default_factory=Handler)
    handlers: Mapping[str, Handler] = field(default_factory=dict)

    def handler_for(self, task: str) -> Handler:
        return self.handlers.get(task, self.handler)

    def request_for(self, task: str) -> Request | None:
        return next((r for r in self.submit if r.id == task), None)

    def to_json(self) -> str:
        """The plan as the app receives it in env BGPROBE_PLAN."""
        raw = asdict(self)
        raw["submit"] = [_non_default(r) for r in self.submit]
        raw["handler"] = _without_none(raw["handler"])
        raw["handlers"] = {k: _without_none(v) for k, v in raw["handlers"].items()}
        return json.dumps(raw, sort_keys=True)


def build_plan(raw: Mapping[str, Any], bundle_id: str) -> Plan:
    """Validate `raw` against the schema and expand short names to `<bundle_id>.<name>`."""
    errors = sorted(_validator().iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {_where(e)}: {_message(e)}" for e in errors]
        raise PlanError(
            f"the probe plan does not follow {PLAN_SCHEMA.name} "
            f"({len(errors)} problem{'s' * (len(errors) > 1)}):\n" + "\n".join(lines)
        )

    def full(name: str) -> str:
        return name if "." in name else f"{bundle_id}.{name}"

    def handler(spec: Mapping[str, Any] | None) -> Handler:
        return Handler(**spec) if spec else Handler()

    return Plan(
        cancel_all=raw.get("cancel_all", True),
        register=tuple(full(n) for n in raw.get("register", ())),
        submit=tuple(Request(**{**r, "id": full(r["id"])}) for r in raw.get("submit", ())),
        handler=handler(raw.get("handler")),
        handlers={full(k): handler(v) for k, v in raw.get("handlers", {}).items()},
    )


def plan_from_json(text: str) -> Plan:
    """The plan as the app decodes it from BGPROBE_PLAN (identifiers already in full)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{PLAN_ENV} is not JSON: {exc}") from None
    return build_plan(raw, bundle_id="")


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(PLAN_SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _where(error: jsonschema.ValidationError) -> str:
    return "plan" + "".join(
        f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
    )


def _message(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, except where it would print the schema back at the user."""
    if error.validator == "not" and isinstance(error.instance, Mapping):
        extra = [
            k
            for k in ("requires_network", "requires_power", "title", "subtitle", "strategy", "gpu")
            if k in error.instance
        ]
        return f"{', '.join(extra)} do not apply to a {error.instance.get('type')} request"
    return error.message


def _non_default(request: Request) -> dict[str, Any]:
    """A request with only the fields that differ from the defaults, as a user would write it."""
    default = Request(type=request.type, id=request.id)
    return {
        k: v for k, v in asdict(request).items() if v != getattr(default, k) or k in ("type", "id")
    }


def _without_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}
