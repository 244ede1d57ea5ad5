"""YAML loading for the data files: every scalar is a string except ``null`` and ``true``/``false``.

PyYAML's default (YAML 1.1) reads ``NO`` as false and ``510`` as an int; region codes and lexicon
forms must stay text. Pydantic converts the strings where a schema asks for numbers or dates."""

from __future__ import annotations

import re
from pathlib import Path

import yaml


class _DataLoader(yaml.SafeLoader):
    pass


_DataLoader.yaml_implicit_resolvers = {}
_DataLoader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                                  list("~nN") + [""])
_DataLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


def load_yaml(path: Path):
    """Parse a data file; any failure is a ``ValueError`` that names the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=_DataLoader)  # noqa: S506 - SafeLoader subclass
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
