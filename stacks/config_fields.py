"""The config schema's pydantic vocabulary: constraints with words, and pydantic's findings worded.

stacks/config.py declares the keys with these; the README table (stacks/config_doc.py) and every
error message read the same field metadata through `accepts`, so both state the same limits.
`problems` turns a ValidationError into the project's lines: key path, value, what is allowed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, cast, get_args, get_origin

import annotated_types
from pydantic import AfterValidator, GetCoreSchemaHandler, ValidationError
from pydantic.config import JsonDict
from pydantic.dataclasses import is_pydantic_dataclass
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, core_schema

# The error type of problems worded in the schema itself (rules between keys, custom checks).
_WORDED = "config_problems"


# --- constraints ----------------------------------------------------------------------------


def worded(problems: Iterable[tuple[str, str]]) -> PydanticCustomError:
    """A validation error carrying problems already worded: (key below the error's location, or
    "" for the location itself; what is wrong and what is allowed)."""
    found = list(problems)
    message = "; ".join(f"{key}: {text}" if key else text for key, text in found)
    return PydanticCustomError(_WORDED, "{message}", {"message": message, "problems": found})


def hold(problems: Iterable[tuple[str, str]]) -> None:
    """A model validator's verdict: raise one error carrying every problem found, if any."""
    found = list(problems)
    if found:
        raise worded(found)


@dataclasses.dataclass(frozen=True)
class OneOf:
    """Field constraint: the value (for a list, each item) is one of `choices`."""

    choices: tuple[Any, ...]

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._validate, handler(source))

    def _validate(self, value: Any) -> Any:
        for item in value if isinstance(value, tuple) else (value,):
            if item not in self.choices:
                allowed = ", ".join(repr(c) for c in self.choices)
                raise worded([("", f"value {item!r} not allowed; allowed: {allowed}")])
        return value


def check(problem_of: Callable[[Any], str | None]) -> AfterValidator:
    """Field constraint from a function that says what is wrong with a value (None: nothing)."""

    def validate(value: Any) -> Any:
        problem = problem_of(value)
        if problem is not None:
            raise worded([("", f"value {value!r} is invalid: {problem}")])
        return value

    return AfterValidator(validate)


def doc(*, expects: str = "", note: str = "") -> JsonDict:
    """A field's words beyond its constraints (`Field(json_schema_extra=...)`): the accepted
    format (`expects`, what a pattern error says) and a rule between keys (`note`)."""
    return {"expects": expects, "note": note}


# --- what a field accepts -------------------------------------------------------------------


def schema_fields(model: type[Any]) -> dict[str, FieldInfo]:
    """The keys of a config model, in declaration order."""
    fields: dict[str, FieldInfo] = model.__pydantic_fields__
    return fields


def section_of(info: FieldInfo) -> type[Any] | None:
    """The config model a key holds (a section), or None for a plain value."""
    annotation = info.annotation
    is_model = isinstance(annotation, type) and is_pydantic_dataclass(annotation)
    return cast("type[Any]", annotation) if is_model else None


def items_of(info: FieldInfo) -> type[Any] | None:
    """The config model each item of a list key holds (`tuple[Model, ...]`), or None."""
    args = get_args(info.annotation)
    if get_origin(info.annotation) is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        return cast("type[Any]", item) if is_pydantic_dataclass(item) else None
    return None


@dataclasses.dataclass(frozen=True)
class Accepts:
    """What a key accepts, read from its field: the limits pydantic checks and their words."""

    annotation: Any
    range: tuple[Any, Any] | None
    choices: tuple[Any, ...] | None
    pattern: str | None
    expects: str
    note: str


def accepts(info: FieldInfo) -> Accepts:
    """The limits and words of one field (constraints in `Field(...)` or in its annotation)."""
    meta = info.metadata
    low = next((m.ge for m in meta if isinstance(m, annotated_types.Ge)), None)
    high = next((m.le for m in meta if isinstance(m, annotated_types.Le)), None)
    choices = next((m.choices for m in meta if isinstance(m, OneOf)), None)
    pattern = next((m.pattern for m in meta if getattr(m, "pattern", None) is not None), None)
    words = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
    return Accepts(
        annotation=info.annotation,
        range=None if low is None or high is None else (low, high),
        choices=choices,
        pattern=pattern.pattern if isinstance(pattern, re.Pattern) else pattern,
        expects=str(words.get("expects") or ""),
        note=str(words.get("note") or ""),
    )


def describe(limits: Accepts, max_choices: int | None = None) -> str:
    """What a key accepts, in the words its errors use (the README's "Allowed" column)."""
    parts = ["true / false"] if limits.annotation is bool else []
    if limits.range is not None:
        low, high = limits.range
        parts.append(f"{low}..{high}")
    if limits.choices is not None:
        shown = [str(c) for c in limits.choices]
        if max_choices is not None and len(shown) > max_choices:
            shown = [*shown[:4], "…", shown[-1]]
        parts.append(" / ".join(shown))
    parts += [text for text in (limits.expects, limits.note) if text]
    return "; ".join(parts) or "any"


# --- pydantic's findings, worded as the project words them -----------------------------------

_TYPE_NAMES = {
    "int_type": "int",
    "bool_type": "bool",
    "string_type": "str",
    "float_type": "float",
    "tuple_type": "a list",
    "dataclass_type": "an object",
    "dataclass_exact_type": "an object",
}
_UNKNOWN_KEY = ("unexpected_keyword_argument", "extra_forbidden")
_OUT_OF_RANGE = ("greater_than_equal", "less_than_equal", "greater_than", "less_than")


def got(value: object) -> str:
    """A value as the messages show a wrong one: its JSON-ish type and its repr."""
    return "null" if value is None else f"{type(value).__name__} {value!r}"


def _locate(
    model: type[Any], names: Sequence[str]
) -> tuple[type[Any], FieldInfo | None, tuple[int, ...]]:
    """The model holding the key `names` lead to, that key's field (None: an unknown key), and
    the key's position in declaration order (messages follow cdk.json's order)."""
    holder, info = model, None
    position: tuple[int, ...] = ()
    for depth, name in enumerate(names):
        keys = list(schema_fields(holder))
        info = schema_fields(holder).get(name)
        position += (keys.index(name) if info is not None else len(keys),)
        section = None if info is None else section_of(info) or items_of(info)
        if depth == len(names) - 1 or section is None:
            break
        holder = section
    return holder, info, position


def _wording(
    error: Mapping[str, Any], holder: type[Any], info: FieldInfo | None, not_keys: Collection[str]
) -> str:
    """What is wrong with one value, and what is allowed (never pydantic's own wording)."""
    kind, value = error["type"], error["input"]
    if kind in _TYPE_NAMES:
        return f"expected {_TYPE_NAMES[kind]}, got {got(value)}"
    if info is None or kind in _UNKNOWN_KEY:
        keys = sorted(set(schema_fields(holder)) - set(not_keys))
        return f"unknown key (value {value!r}); allowed keys: {', '.join(keys)}"
    if kind == "missing":
        return "expected an object; the key is missing" if section_of(info) else "missing key"
    limits = accepts(info)
    if kind in _OUT_OF_RANGE and limits.range is not None:
        low, high = limits.range
        note = f" ({limits.note})" if limits.note else ""
        return f"value {value!r} out of range; allowed {low}..{high}{note}"
    if kind == "string_pattern_mismatch" and limits.expects:
        return f"value {value!r} not allowed; expected {limits.expects}"
    return f"value {got(value)} not allowed; allowed: {describe(limits)}"


def problems(
    error: ValidationError, model: type[Any], where: str, not_keys: Collection[str] = ()
) -> list[str]:
    """One line per problem pydantic found in `model` read at `where`: key path, value and
    what is allowed. `not_keys`: fields of `model` that are not keys of the input."""
    lines: list[tuple[tuple[int, ...], str]] = []
    found_all = error.errors()
    locations = [tuple(found["loc"]) for found in found_all]
    for found in found_all:
        loc = tuple(found["loc"])
        if found["type"] == "too_short" and any(
            other[: len(loc)] == loc and len(other) > len(loc) for other in locations
        ):
            continue  # a list is short because its items failed: those errors say why
        # A list item's index is left out of the path: the message quotes the item.
        names = [part for part in found["loc"] if isinstance(part, str)]
        path = ".".join([where, *names])
        holder, info, position = _locate(model, names)
        if found["type"] == "too_short":
            minimum = (found.get("ctx") or {})["min_length"]
            text = f"expected at least {minimum} item(s), got {got(found['input'])}"
            lines.append((position, f"{path}: {text}"))
        elif found["type"] == _WORDED:
            lines += [
                (position, f"{path}.{key}: {text}" if key else f"{path}: {text}")
                for key, text in (found.get("ctx") or {})["problems"]
            ]
        else:
            lines.append((position, f"{path}: {_wording(found, holder, info, not_keys)}"))
    return [line for _, line in sorted(lines, key=lambda pair: pair[0])]
