"""Declarative configuration: YAML documents, validated whole before anything is applied.

The kinds of document a file may hold are listed in :mod:`unifier.kinds`.
"""

from unifier.config.documents import API_VERSION, InstanceDocument, file_schema
from unifier.config.loader import ConfigSet, Loaded, load_files
from unifier.config.paths import ConfigPath

__all__ = [
    "API_VERSION",
    "ConfigPath",
    "ConfigSet",
    "InstanceDocument",
    "Loaded",
    "file_schema",
    "load_files",
]
