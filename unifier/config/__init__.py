"""Declarative configuration: YAML documents, validated whole before anything is applied."""

from unifier.config.documents import API_VERSION, KINDS, InstanceDocument, file_schema, register_kind
from unifier.config.loader import ConfigSet, Loaded, load_files
from unifier.config.paths import ConfigPath

__all__ = [
    "API_VERSION",
    "KINDS",
    "ConfigPath",
    "ConfigSet",
    "InstanceDocument",
    "Loaded",
    "file_schema",
    "load_files",
    "register_kind",
]
