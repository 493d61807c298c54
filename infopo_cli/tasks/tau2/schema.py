"""Argument schemas of tau2 tools: constructors for JSON schemas, and the strict check of a call.

A tool here may rely on its arguments: every required one present, none unknown, each of its
declared type (integral floats become ints), nested objects and list items checked the same way,
enum values enforced. A failure names the argument by its path (``flights[0].date``).

Unknown keys: tau2-bench calls the Python method with the arguments as keywords, so an unknown
top-level argument is a ``TypeError`` there (an error result) and is refused here too. Nested
objects are built as pydantic models, and tau2-bench's models differ: ``FlightInfo``, ``Passenger``
and ``Payment`` (airline) are plain ``BaseModel``s, which drop unknown keys, while ``APNSettings``
(the phone) forbids them. An object schema says which with ``unknown="ignore"`` or ``"reject"``;
``check_fields(..., strict_nested=True)`` (the project's own rule) refuses unknown nested keys
everywhere.
"""

from __future__ import annotations

import json
from typing import Any

from infopo_cli.tasks.tau.tools import JSON, ToolError

# -- schema constructors ---------------------------------------------------------------------------


def s_str(description: str = "", enum: list[str] | tuple[str, ...] | None = None) -> JSON:
    out: JSON = {"type": "string", "description": description}
    if enum is not None:
        out["enum"] = list(enum)
    return out


def s_int(description: str = "") -> JSON:
    return {"type": "integer", "description": description}


def s_num(description: str = "") -> JSON:
    return {"type": "number", "description": description}


def s_bool(description: str = "") -> JSON:
    return {"type": "boolean", "description": description}


def s_arr(items: JSON, description: str = "") -> JSON:
    return {"type": "array", "items": items, "description": description}


UNKNOWN_KEYS = ("reject", "ignore")


def s_obj(
    properties: dict[str, JSON],
    description: str = "",
    optional: tuple = (),
    unknown: str = "reject",
) -> JSON:
    """An object argument; ``unknown`` is what tau2-bench's model does with unknown keys."""
    if unknown not in UNKNOWN_KEYS:
        raise ValueError(f"unknown must be one of {UNKNOWN_KEYS}, got {unknown!r}")
    out: JSON = {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
        "description": description,
    }
    if unknown == "reject":
        out["additionalProperties"] = False
    return out


def optional(schema: JSON) -> JSON:
    """Mark a top-level argument as optional (it keeps the method's default when left out)."""
    return {**schema, "optional": True}


# -- validation -------------------------------------------------------------------------------------

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}


def check(schema: JSON, value: Any, path: str, strict_nested: bool = False) -> Any:
    """``value`` checked against ``schema`` (and integral floats made ints); raises ToolError.

    An object whose schema allows unknown keys loses them, unless ``strict_nested``."""
    kind = schema["type"]
    want = _TYPE_WORDS[kind]
    if kind == "string":
        if not isinstance(value, str):
            raise ToolError(f"argument '{path}' must be {want}, got {json.dumps(value)}")
    elif kind == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ToolError(f"argument '{path}' must be {want}, got {json.dumps(value)}")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ToolError(f"argument '{path}' must be {want}, got {json.dumps(value)}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise ToolError(f"argument '{path}' must be {want}, got {json.dumps(value)}")
    elif kind == "array":
        if not isinstance(value, list):
            raise ToolError(f"argument '{path}' must be {want}, got {json.dumps(value)}")
        value = [
            check(schema["items"], v, f"{path}[{i}]", strict_nested) for i, v in enumerate(value)
        ]
    elif kind == "object":
        if not isinstance(value, dict):
            raise ToolError(f"argument '{path}' must be {want}, got {json.dumps(value)}")
        if schema.get("additionalProperties", True) and not strict_nested:
            value = {k: v for k, v in value.items() if k in schema["properties"]}
        value = check_fields(
            schema["properties"], schema.get("required", []), value, path, strict_nested
        )
    if "enum" in schema and value not in schema["enum"]:
        options = ", ".join(repr(v) for v in schema["enum"])
        raise ToolError(f"argument '{path}' must be one of {options}, got {json.dumps(value)}")
    return value


def check_fields(
    properties: dict[str, JSON],
    required: list[str],
    value: dict,
    path: str,
    strict_nested: bool = False,
) -> dict:
    """The fields of one object (or a call's top-level arguments); unknown ones are refused."""
    prefix = f"{path}." if path else ""
    unknown = [k for k in value if k not in properties]
    if unknown:
        raise ToolError(
            f"unknown argument '{prefix}{unknown[0]}'; accepted: {', '.join(properties) or 'none'}"
        )
    missing = [k for k in required if k not in value]
    if missing:
        raise ToolError(f"missing argument '{prefix}{missing[0]}'")
    return {k: check(properties[k], v, f"{prefix}{k}", strict_nested) for k, v in value.items()}
