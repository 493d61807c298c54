"""Argument schemas of tau2 tools: constructors for JSON schemas, and the strict check of a call.

tau2-bench validates every call against the tool's signature, so a tool here may rely on its
arguments: every required one present, none unknown, each of its declared type (integral floats
become ints), nested objects and list items checked the same way, enum values enforced. A failure
names the argument by its path (``flights[0].date``).
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


def s_obj(properties: dict[str, JSON], description: str = "", optional: tuple = ()) -> JSON:
    return {
        "type": "object",
        "properties": properties,
        "required": [k for k in properties if k not in optional],
        "additionalProperties": False,
        "description": description,
    }


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


def check(schema: JSON, value: Any, path: str) -> Any:
    """``value`` checked against ``schema`` (and integral floats made ints); raises ToolError."""
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
        value = [check(schema["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
    elif kind == "object":
        if not isinstance(value, dict):
            raise ToolError(f"argument '{path}' must be {want}, got {json.dumps(value)}")
        value = check_fields(schema["properties"], schema.get("required", []), value, path)
    if "enum" in schema and value not in schema["enum"]:
        options = ", ".join(repr(v) for v in schema["enum"])
        raise ToolError(f"argument '{path}' must be one of {options}, got {json.dumps(value)}")
    return value


def check_fields(properties: dict[str, JSON], required: list[str], value: dict, path: str) -> dict:
    prefix = f"{path}." if path else ""
    unknown = [k for k in value if k not in properties]
    if unknown:
        raise ToolError(
            f"unknown argument '{prefix}{unknown[0]}'; accepted: {', '.join(properties) or 'none'}"
        )
    missing = [k for k in required if k not in value]
    if missing:
        raise ToolError(f"missing argument '{prefix}{missing[0]}'")
    return {k: check(properties[k], v, f"{prefix}{k}") for k, v in value.items()}
