"""Reading a TOML config file into a pydantic model, with every problem as
one line that names its key. The device's config and the central config both
read through here, so both speak the same words about a bad value."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ravao_protocol.errors import UserError

Model = TypeVar("Model", bound=BaseModel)


class ConfigError(UserError):
    """A config file that cannot be used; the message is one line."""


# pydantic's words for a value of the wrong kind, in a user's words.
_WRONG_KIND = {
    "int_parsing": "must be a whole number", "int_type": "must be a whole number",
    "int_from_float": "must be a whole number", "float_parsing": "must be a number", "float_type": "must be a number",
    "finite_number": "must be a finite number", "bool_parsing": "must be true or false",
    "bool_type": "must be true or false", "string_type": "must be text in quotes", "list_type": "must be a list",
    "model_type": "must be a section", "model_attributes_type": "must be a section",
}


def describe(err: ValidationError) -> str:
    """Every problem pydantic found, each naming its key, on one line."""
    problems = []
    for error in err.errors():
        where = ".".join(str(p) for p in error["loc"]) or "(top level)"
        if error["type"] == "extra_forbidden":
            problems.append(f"{where}: unknown key")
            continue
        msg = _WRONG_KIND.get(error["type"]) or str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{where}: {msg} (not {error['input']!r})" if error["type"] in _WRONG_KIND else
                        f"{where}: {msg}")
    return "; ".join(problems)


def parse_toml(text: str, model: type[Model], origin: str = "config") -> Model:
    """Parse TOML text into `model`, or raise :class:`ConfigError`."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {describe(exc)}") from None


def load_toml(path: str | Path, model: type[Model]) -> Model:
    """Read and check the TOML file at `path` against `model`."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    return parse_toml(text, model, str(p))
