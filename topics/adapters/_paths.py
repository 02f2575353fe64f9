"""Reading optional values out of parsed vendor JSON without a cascade of isinstance checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from topics.errors import PulseValidationError

__all__ = ["dig", "validate"]

M = TypeVar("M", bound=BaseModel)


def dig(value: Any, *path: str | int) -> Any:
    """The value at `path` inside nested objects and arrays, or None if any step is missing."""
    for step in path:
        if isinstance(step, str) and isinstance(value, dict):
            value = value.get(step)
        elif isinstance(step, int) and isinstance(value, list) and -len(value) <= step < len(value):
            value = value[step]
        else:
            return None
    return value


def validate(model: type[M], fields: dict[str, Any], sources: Mapping[str, str]) -> M:
    """Build `model`, blaming errors on the vendor field each value came from."""
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        raise PulseValidationError.from_pydantic(exc, sources) from None
