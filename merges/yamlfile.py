"""YAML configs read as plain data: only strings, numbers, booleans, nulls, lists and mappings reach a schema.

PyYAML's safe loader turns an unquoted date-like value (`seed: 2024-02-30`) into a `datetime.date`, and fails with a
Python traceback when the date does not exist; here such a value stays the text it is, and the schema that reads it
says what it expects. A mapping that gives one key twice (two `eval:` blocks) is refused with both lines, where
PyYAML would silently keep the second. Both config readers (merge configs, study and family configs) use this.
"""

from __future__ import annotations

from typing import Any

import yaml

TIMESTAMP = "tag:yaml.org,2002:timestamp"
MERGE = "tag:yaml.org,2002:merge"


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping gives one key twice."""


class PlainLoader(yaml.SafeLoader):
    """The safe loader without timestamps, refusing repeated keys."""


PlainLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _mapping(loader: PlainLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE:  # `<<: *anchor`: its keys may be overridden here, by design
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: construct_mapping refuses it with its own message
            break
        if first is not None:
            raise DuplicateKeyError(None, None, f"the key {str(key)!r} is given twice (first at line {first + 1})",
                                    key_node.start_mark)  # fmt: skip
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=True)


PlainLoader.add_constructor("tag:yaml.org,2002:map", _mapping)


def load_yaml(text: str) -> Any:
    """The plain data in a YAML document (`yaml.YAMLError` on bad syntax, `DuplicateKeyError` on a repeated key)."""
    return yaml.load(text, Loader=PlainLoader)
