"""YAML as model and run files are read: YAML 1.2 numbers, and duplicate keys are an error.

PyYAML follows YAML 1.1, which reads ``1e-3`` or ``1.0e8`` as strings and keeps only the last of
two equal keys; both would silently change a model or a run.
"""

from __future__ import annotations

import re
from typing import Any

import yaml


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader that rejects duplicate keys (PyYAML keeps the last one silently). LibYAML's parser
    when PyYAML has it (a 10,000-reaction model file loads in a second instead of fifteen); the
    constructor and the resolver below are the same Python code either way."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float)) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                        key_node.start_mark)
            if isinstance(key, (str, int, float)):
                seen.add(key)
        return super().construct_mapping(node, deep)


# YAML 1.2 floats without a dot ('1e-3'); PyYAML (YAML 1.1) would read them as strings
_Loader.add_implicit_resolver("tag:yaml.org,2002:float",
                              re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


def load_yaml(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)
