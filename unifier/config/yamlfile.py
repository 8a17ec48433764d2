"""Reading YAML files into documents that remember where every value came from.

PyYAML's node graph keeps a line for every node; :class:`Document` maps each path
inside the document (``("spec", "config", "crontabs", 0)``) to its line, so a
validation error can be reported as ``FILE:LINE: reason``. Duplicate keys, which
YAML parsers silently overwrite, are problems here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from unifier.errors import Problem

Loc = tuple[Any, ...]


@dataclass
class Document:
    file: str
    line: int  # 1-based line where the document starts
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_of(self, loc: Loc) -> int:
        """Line of the deepest known node on the path ``loc``."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.line

    @property
    def base_dir(self) -> str:
        return str(Path(self.file).resolve().parent)


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int], problems: list[Problem], file: str) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key == "<<":  # merge key: lines of merged values stay with the anchor
                continue
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(Problem(file, line, f"duplicate key {key!r} (first at line {seen[key]})"))
            seen[key] = line
            _walk(value_node, (*loc, key), lines, problems, file)
            lines[(*loc, key)] = line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*loc, index), lines, problems, file)


def read_documents(path: str | Path) -> tuple[list[Document], list[Problem]]:
    """Every non-empty document of a YAML file, or the problems that prevent reading it."""
    file = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        return [], [Problem(file, 0, f"cannot read file: {exc.strerror}")]
    return read_text_documents(file, text)


def read_text_documents(file: str, text: str) -> tuple[list[Document], list[Problem]]:
    """As :func:`read_documents`, for a file's text already read."""
    documents: list[Document] = []
    problems: list[Problem] = []
    try:  # the reader checks the characters as it is built: a control character fails here
        loader = yaml.SafeLoader(text)
    except yaml.YAMLError as exc:
        return [], [Problem(file, 0, f"YAML error: {exc}")]
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            lines: dict[Loc, int] = {}
            _walk(node, (), lines, problems, file)
            data = loader.construct_document(node)
            if data is None:
                continue
            documents.append(Document(file=file, line=node.start_mark.line + 1, data=data, lines=lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        reason = " ".join(filter(None, [exc.context, exc.problem])) or str(exc)
        problems.append(Problem(file, line, f"YAML syntax error: {reason}"))
    except yaml.YAMLError as exc:
        problems.append(Problem(file, 0, f"YAML error: {exc}"))
    finally:
        loader.dispose()
    return documents, problems
