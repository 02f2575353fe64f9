"""Reading the signals core's configuration and rules files for the CLI and workers.

signals/ does no I/O; this is where its YAML files are read, and where their
errors become one readable line.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from signals.config import SignalsConfig, load_config
from signals.rules import RuleSet, default_rules, load_rules
from topics.errors import PulseError


class SignalsFileError(PulseError):
    """A rules or configuration file that cannot be read or used."""


def read_rules(path: Path | None) -> RuleSet:
    """The rules in ``path``, or the defaults when no file is given."""
    if path is None:
        return default_rules()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        msg = f"cannot read rules file {path}: {exc.strerror}"
        raise SignalsFileError(msg) from None
    return load_rules(text, str(path))


def read_config(path: Path | None) -> SignalsConfig:
    """The signals configuration in a YAML file, or the defaults."""
    if path is None:
        return load_config()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        msg = f"cannot read signals config {path}: {exc.strerror}"
        raise SignalsFileError(msg) from None
    except yaml.YAMLError as exc:
        msg = f"signals config {path} is not valid YAML: {exc}"
        raise SignalsFileError(msg) from None
    if data is not None and not isinstance(data, dict):
        msg = f"signals config {path} must be a mapping of settings"
        raise SignalsFileError(msg)
    return load_config(data)
