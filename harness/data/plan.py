"""The probe plan (version 2): what the BGProbe app does, validated before it reaches a device.

`harness/data/schemas/plan.schema.json` (package data) is the single source of truth: ProbeKit (the
Swift app), the virtual iPhone's probe and the docs all follow it. A plan that does not validate
is a `PlanError` listing every problem with its place in the plan, raised on the host before
anything is launched. Beyond the schema, numbers must be finite (JSON has no NaN or Infinity),
and the plan's JSON never contains them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import jsonschema

from harness.core.errors import PlanError

PLAN_ENV = "BGPROBE_PLAN"
PLAN_VERSION = 2
SCHEMA_NAME = "plan.schema.json"


def schema_text() -> str:
    """The schema, read from the installed package (works from a wheel, not only a checkout)."""
    return resources.files("harness.data.schemas").joinpath(SCHEMA_NAME).read_text(encoding="utf-8")


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
class Progress:
    """How a handler reports progress: a cadence or a list of gaps, in one of three forms."""

    every_s: float | None = None
    gaps_s: tuple[float, ...] = ()
    as_: str = "units"
    needs_network: bool = False


@dataclass(frozen=True)
class Action:
    """One step of a plan: `kind` is the action's key in the schema, `arg` its value."""

    kind: str
    arg: Any


@dataclass(frozen=True)
class Step:
    """Actions on the timeline after launch."""

    at_s: float
    do: tuple[Action, ...]


@dataclass(frozen=True)
class Handler:
    """What a launch handler does when its task runs."""

    work_s: float = 1.0
    progress: Progress | None = None
    expiration_handler: bool = True
    complete: str = "success"
    resubmit: str | None = None  # "on_start" | "on_expiry"
    resubmit_id: str = "same"
    do: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Plan:
    """A validated plan with every identifier spelled out in full."""

    cancel_all: bool = True
    register: tuple[str, ...] = ()
    submit: tuple[Request, ...] = ()
    after_launch: tuple[Step, ...] = ()
    taps: Mapping[str, tuple[Action, ...]] = field(default_factory=dict)
    handler: Handler = field(default_factory=Handler)
    handlers: Mapping[str, Handler] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=lambda: {"version": PLAN_VERSION}, compare=False)

    def handler_for(self, task: str) -> Handler:
        return self.handlers.get(task, self.handler)

    def request_for(self, task: str) -> Request | None:
        return next((r for r in self.submit if r.id == task), None)

    def relaunch(self) -> Plan:
        """The plan a background relaunch follows: register and handlers, nothing else."""
        raw = {"version": PLAN_VERSION, "cancel_all": False, "register": list(self.register)}
        for key in ("handler", "handlers"):
            if key in self.raw:
                raw[key] = self.raw[key]
        return _typed(raw)

    def to_json(self) -> str:
        """The plan as the app receives it in env BGPROBE_PLAN (never NaN or Infinity)."""
        return json.dumps(self.raw, sort_keys=True, allow_nan=False)


def build_plan(raw: Mapping[str, Any], bundle_id: str) -> Plan:
    """Validate `raw` against the schema and expand short names to `<bundle_id>.<name>`.

    A Python caller may leave out `version`: it is filled in as 2. Any other version is refused.
    """
    if not isinstance(raw, Mapping):
        raise PlanError(f"the probe plan must be a JSON object, not {type(raw).__name__}")
    raw = {"version": PLAN_VERSION, **raw}
    problems = _not_finite(raw, "plan")
    why = "invalid"
    if raw.get("version") != PLAN_VERSION:
        why = "version"
        problems.append(
            (
                "plan.version",
                f"{raw.get('version')!r} is not understood by this bgharness (it understands "
                f"plan version {PLAN_VERSION}); rewrite the plan for version {PLAN_VERSION}",
            )
        )
    elif not problems:
        errors = sorted(_validator().iter_errors(raw), key=lambda e: [str(p) for p in e.path])
        problems = [(_where(e), _message(e)) for e in errors]
    if problems:
        raise _plan_error(problems, why)
    return _typed(_expand(raw, bundle_id))


def plan_from_json(text: str) -> Plan:
    """The plan as the app decodes it from BGPROBE_PLAN (identifiers already in full)."""
    try:
        raw = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        error = PlanError(f"{PLAN_ENV} is not JSON: {exc}")
        error.paths, error.why = ["plan"], "not_json"
        raise error from None
    if not isinstance(raw, dict):
        raise _plan_error([("plan", f"must be a JSON object, not {type(raw).__name__}")], "invalid")
    if "version" not in raw:
        # The app is stricter than a Python caller: the JSON it receives names its version.
        raise _plan_error([("plan.version", "the plan names no version")], "version")
    return build_plan(raw, bundle_id="")


def fresh_id(task: str, n: int) -> str:
    """The identifier of the n-th fresh resubmission: `<id>-r<n>` (a previous `-rK` replaced)."""
    base, sep, tail = task.rpartition("-r")
    return f"{base if sep and tail.isdigit() else task}-r{n}"


# -- Building the typed plan ------------------------------------------------------------------


def _typed(raw: Mapping[str, Any]) -> Plan:
    return Plan(
        cancel_all=raw.get("cancel_all", True),
        register=tuple(raw.get("register", ())),
        submit=tuple(_request(r) for r in raw.get("submit", ())),
        after_launch=tuple(
            Step(float(s["at_s"]), _actions(s["do"])) for s in raw.get("after_launch", ())
        ),
        taps={name: _actions(a) for name, a in raw.get("taps", {}).items()},
        handler=_handler(raw.get("handler")),
        handlers={k: _handler(v) for k, v in raw.get("handlers", {}).items()},
        raw=raw,
    )


def _request(r: Mapping[str, Any]) -> Request:
    return Request(**r)


def _handler(spec: Mapping[str, Any] | None) -> Handler:
    if not spec:
        return Handler()
    p = spec.get("progress")
    progress = None
    if p is not None:
        progress = Progress(
            every_s=p.get("every_s"),
            gaps_s=tuple(p.get("gaps_s", ())),
            as_=p.get("as", "units"),
            needs_network=p.get("needs_network", False),
        )
    return Handler(
        work_s=float(spec.get("work_s", 1.0)),
        progress=progress,
        expiration_handler=spec.get("expiration_handler", True),
        complete=spec.get("complete", "success"),
        resubmit=spec.get("resubmit"),
        resubmit_id=spec.get("resubmit_id", "same"),
        do=_actions(spec.get("do", ())),
    )


def _actions(items: Any) -> tuple[Action, ...]:
    out = []
    for item in items:
        ((kind, arg),) = item.items()
        if kind == "submit":
            arg = _request(arg)
        elif kind == "background_task":
            arg = {"name": "bgprobe", "work_s": 1, "end": True, **arg}
        out.append(Action(kind, arg))
    return tuple(out)


def _expand(raw: Mapping[str, Any], bundle_id: str) -> dict[str, Any]:
    """The plan with every short identifier (no dots) spelled `<bundle_id>.<name>`."""

    def full(name: str) -> str:
        return name if "." in name or not bundle_id else f"{bundle_id}.{name}"

    def request(r: Mapping[str, Any]) -> dict[str, Any]:
        return {**r, "id": full(r["id"])}

    def actions(items: Any) -> list[dict[str, Any]]:
        out = []
        for item in items:
            ((kind, arg),) = item.items()
            if kind in ("register", "cancel"):
                arg = full(arg)
            elif kind == "submit":
                arg = request(arg)
            out.append({kind: arg})
        return out

    def handler(h: Mapping[str, Any]) -> dict[str, Any]:
        return {**h, "do": actions(h["do"])} if "do" in h else dict(h)

    out: dict[str, Any] = dict(raw)
    if "register" in raw:
        out["register"] = [full(n) for n in raw["register"]]
    if "submit" in raw:
        out["submit"] = [request(r) for r in raw["submit"]]
    if "after_launch" in raw:
        out["after_launch"] = [{**s, "do": actions(s["do"])} for s in raw["after_launch"]]
    if "taps" in raw:
        out["taps"] = {name: actions(a) for name, a in raw["taps"].items()}
    if "handler" in raw:
        out["handler"] = handler(raw["handler"])
    if "handlers" in raw:
        out["handlers"] = {full(k): handler(v) for k, v in raw["handlers"].items()}
    return out


# -- Validation -------------------------------------------------------------------------------


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(schema_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _plan_error(problems: list[tuple[str, str]], why: str) -> PlanError:
    """One PlanError listing every problem; `paths` and `why` feed the probe's plan.rejected."""
    lines = [f"  {where}: {what}" for where, what in problems]
    error = PlanError(
        f"the probe plan does not follow {SCHEMA_NAME} "
        f"({len(lines)} problem{'s' * (len(lines) > 1)}):\n" + "\n".join(lines)
    )
    error.paths, error.why = [where for where, _ in problems], why
    return error


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _not_finite(value: Any, where: str) -> list[tuple[str, str]]:
    """Every NaN or Infinity in the plan: jsonschema lets them through (NaN < 0 is False)."""
    if isinstance(value, float) and not math.isfinite(value):
        return [(where, f"{value} is not a number JSON allows (use a finite number)")]
    if isinstance(value, Mapping):
        return [p for k, v in value.items() for p in _not_finite(v, f"{where}.{k}")]
    if isinstance(value, list | tuple):
        return [p for i, v in enumerate(value) for p in _not_finite(v, f"{where}[{i}]")]
    return []


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
    if error.validator == "oneOf" and isinstance(error.instance, Mapping):
        return "give exactly one of every_s or gaps_s"
    described = (
        str(error.schema.get("description", "")) if isinstance(error.schema, Mapping) else ""
    )
    if error.validator in ("minProperties", "maxProperties") and "action" in described:
        keys = sorted(error.instance) if isinstance(error.instance, Mapping) else []
        return f"an action has exactly one key, not {keys}"
    if error.validator == "pattern" and "task identifier" in described:
        return f"{error.instance!r} is not a task identifier (reverse-DNS characters, no newline)"
    return error.message
