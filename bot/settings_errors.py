"""Configuration errors in words an operator can act on: the key, what to write there, an example.

pydantic's own messages name types and regular expressions ("Input should be a valid integer",
"String should match pattern '^([01]?\\d…'"); each is turned here into "write …, e.g. …", with
the example taken from the key's documented example or its default.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import SettingsError

_NUMBER_ERRORS = {
    "int_type", "int_parsing", "int_from_float", "float_type", "float_parsing",
    "greater_than", "greater_than_equal", "less_than", "less_than_equal",
}  # fmt: skip
_LIST_ERRORS = {"tuple_type", "list_type", "iterable_type"}
_TEXT_ERRORS = {"string_type"}
_BOOL_ERRORS = {"bool_type", "bool_parsing"}
_TABLE_ERRORS = {"model_type", "model_attributes_type", "dict_type"}


def describe_validation_error(error: ValidationError, path: Path | str | None, model: type[BaseModel]) -> str:
    """One line per wrong key, naming it the way it is written in bot.toml."""
    source = f" in {path}" if path else ""
    lines = [f"invalid configuration{source}:"]
    for problem in error.errors():
        key, message = explain(problem, model)
        lines.append(f"  {key}: {message}")
    lines.append("The environment can override any key: JIANFU_SECTION__KEY, e.g. JIANFU_TELEGRAM__TOKEN.")
    return "\n".join(lines)


def describe_environment_error(error: SettingsError) -> str:
    """Name the JIANFU_ variable whose value could not be parsed."""
    cause = str(error)
    field = cause.split('"')[1] if '"' in cause else "a setting"
    return (
        f"invalid configuration in the environment: the value for {field} could not be parsed.\n"
        "  Lists and tables are JSON there, e.g. JIANFU_ROLES__SUPERVISORS='[123, 456]'."
    )


def explain(problem: dict[str, Any], model: type[BaseModel]) -> tuple[str, str]:
    """The key as written in bot.toml and what to write there."""
    names = [str(part) for part in problem["loc"] if not isinstance(part, int)]
    items = [part for part in problem["loc"] if isinstance(part, int)]
    context = problem.get("ctx") or {}
    if problem["type"] == "required_here":
        names.append(context["key"])
    key = ".".join(names) or "(top level)"
    field = _field(model, names)
    message = _message(problem, field, in_item=bool(items))
    if message.startswith("write") and "e.g." not in message:
        example = _example(field, in_item=bool(items))
        if example is not None:
            message = f"{message}, e.g. {example}"
    if items:
        key = f"{key}, item {items[-1] + 1}"
    return key, message


def _message(problem: dict[str, Any], field: FieldInfo | None, *, in_item: bool) -> str:
    kind, context = problem["type"], problem.get("ctx") or {}
    if kind == "extra_forbidden":
        return "is not a known setting (check the spelling against bot.toml)"
    if kind == "missing":
        return "is required"
    if kind == "required_here":
        return problem["msg"]
    if kind == "value_error":
        return problem["msg"].removeprefix("Value error, ")
    if kind == "literal_error":
        return "write " + context["expected"].replace("'", '"')
    if kind in _NUMBER_ERRORS:
        return _number_hint(field, in_item=in_item)
    if kind in _BOOL_ERRORS:
        return "write true or false"
    if kind in _TEXT_ERRORS:
        return "write text in double quotes"
    if kind in _LIST_ERRORS:
        return "write a list in square brackets"
    if kind in _TABLE_ERRORS:
        return "write a table of keys (a [section] in bot.toml)"
    if kind in ("too_long", "string_too_long"):
        return f"write at most {_count(context['max_length'], kind)}"
    if kind in ("too_short", "string_too_short"):
        return f"write at least {_count(context['min_length'], kind)}"
    return problem["msg"]


def _count(number: int, kind: str) -> str:
    unit = "character" if kind.startswith("string") else "item"
    return f"{number} {unit}" if number == 1 else f"{number} {unit}s"


def _number_hint(field: FieldInfo | None, *, in_item: bool) -> str:
    whole = field is None or _item_type(field, in_item=in_item) is not float
    noun = "a whole number" if whole else "a number"
    bounds = _bounds(field) if field is not None else {}
    low = f"from {bounds['ge']}" if "ge" in bounds else f"above {bounds['gt']}" if "gt" in bounds else ""
    high = f"to {bounds['le']}" if "le" in bounds else f"below {bounds['lt']}" if "lt" in bounds else ""
    if low and high and "from" not in low:
        high = "up " + high
    return " ".join(part for part in ("write", noun, low, high) if part)


def _bounds(field: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for constraint in field.metadata:
        for kind in (Ge, Gt, Le, Lt):
            if isinstance(constraint, kind):
                name = kind.__name__.lower()
                found[name] = _plain_number(getattr(constraint, name))
    return found


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _item_type(field: FieldInfo, *, in_item: bool) -> Any:
    annotation = field.annotation
    if in_item and getattr(annotation, "__args__", None):
        return annotation.__args__[0]
    return annotation


def _field(model: type[BaseModel], names: list[str]) -> FieldInfo | None:
    """The field a dotted key names, walking the nested sections."""
    field: FieldInfo | None = None
    current: Any = model
    for name in names:
        fields = getattr(current, "model_fields", None)
        if not fields or name not in fields:
            return None
        field = fields[name]
        current = field.annotation
    return field


def _example(field: FieldInfo | None, *, in_item: bool) -> str | None:
    """A value to show: the field's documented example, else its default when it says something."""
    if field is None:
        return None
    value = field.examples[0] if field.examples else field.default
    if isinstance(value, (SecretStr, BaseModel)):
        return None
    if in_item and isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if value in (None, "", (), []):
        return None
    return _toml(value)


def _toml(value: Any) -> str:
    """A value written the way bot.toml wants it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(_plain_number(value)) if isinstance(value, float) else str(value)
