"""Loading and validating configuration files, all or nothing.

:func:`load_files` reads every document of every file and returns them validated,
or raises :class:`~unifier.errors.ConfigError` carrying every problem found, each
located as ``FILE:LINE: reason``. Nothing here touches the catalog: a refused file
changes nothing anywhere.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from unifier import secrets
from unifier.config.documents import API_VERSION, Document, InstanceDocument
from unifier.config.yamlfile import Document as YamlDocument
from unifier.config.yamlfile import read_documents, read_text_documents
from unifier.errors import ConfigError, PluginError, Problem
from unifier.kinds import KINDS
from unifier.plugins import adapter_registry


@dataclass
class Loaded:
    """One validated document and where it came from."""

    kind: str
    name: str
    model: Document
    source: YamlDocument
    settings: BaseModel | None = None  # an Instance's validated adapter settings

    @property
    def location(self) -> str:
        return f"{self.source.file}:{self.source.line}"

    def stored_spec(self) -> dict[str, Any]:
        """The spec as the catalog keeps it: as written (secret references unresolved),
        plus the directory relative paths are resolved against."""
        spec = dict(self.source.data.get("spec") or {})
        spec["base_dir"] = self.source.base_dir
        return spec

    def spec_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.stored_spec(), sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class ConfigSet:
    documents: list[Loaded]

    def of_kind(self, kind: str) -> list[Loaded]:
        return [d for d in self.documents if d.kind == kind]

    @property
    def instances(self) -> list[Loaded]:
        return self.of_kind("Instance")


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory stands for its *.yaml and *.yml files, sorted."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            found.append(path)
    return found


def load_files(paths: Iterable[str | Path]) -> ConfigSet:
    return _load(expand_paths(paths), read_documents)


def load_texts(texts: dict[str, str]) -> ConfigSet:
    """As :func:`load_files`, for files whose text arrived another way (``unifier apply``
    against a remote server sends each file's path and text): problems name the path."""
    by_path = {Path(name): text for name, text in texts.items()}
    return _load(list(by_path), lambda path: read_text_documents(str(path), by_path[path]))


def _load(files: list[Path], read: Callable[[Path], tuple[list[YamlDocument], list[Problem]]]) -> ConfigSet:
    problems: list[Problem] = []
    loaded: list[Loaded] = []
    if not files:
        raise ConfigError([Problem("-", 0, "no configuration files given")])
    for path in files:
        documents, file_problems = read(path)
        problems += file_problems
        if file_problems:
            continue
        if not documents:
            problems.append(Problem(str(path), 1, "no documents in file"))
        for document in documents:
            result = _validate_document(document, problems)
            if result is not None:
                loaded.append(result)
    problems += _duplicates(loaded)
    if problems:
        raise ConfigError(sorted(set(problems), key=lambda p: (p.file, p.line, p.reason)))
    return ConfigSet(loaded)


def _validate_document(document: YamlDocument, problems: list[Problem]) -> Loaded | None:
    where = document.file
    data = document.data
    if not isinstance(data, dict):
        problems.append(Problem(where, document.line,
                                "a document must be a mapping with apiVersion, kind, metadata, spec"))
        return None
    before = len(problems)
    if data.get("apiVersion") != API_VERSION:
        problems.append(Problem(where, document.line_of(("apiVersion",)),
                                f"apiVersion must be {API_VERSION!r}, not {data.get('apiVersion')!r}"))
    kind_name = data.get("kind")
    kind = KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        known = ", ".join(sorted(KINDS))
        problems.append(Problem(where, document.line_of(("kind",)), f"unknown kind {kind_name!r} (known: {known})"))
        return None
    context = {"base_dir": document.base_dir}
    try:
        model = kind.model.model_validate(data, context=context)
    except ValidationError as exc:
        problems += _problems_from(exc, document, ())
        model = None
    settings = None
    if isinstance(model, InstanceDocument):
        settings = _validate_settings(model, document, problems)
    # a zoned instance's secrets resolve in its agent's environment, never here
    zoned = isinstance(model, InstanceDocument) and model.spec.zone is not None
    for loc, reason in [] if zoned else secrets.unresolvable(data):
        problems.append(Problem(where, document.line_of(loc), f"{_dotted(loc)}: {reason}"))
    if model is None or len(problems) > before:
        return None
    return Loaded(kind=kind.name, name=model.metadata.name, model=model, source=document, settings=settings)


def _validate_settings(model: InstanceDocument, document: YamlDocument, problems: list[Problem]) -> BaseModel | None:
    try:
        spec = adapter_registry().get(model.spec.adapter)
    except PluginError as exc:
        problems.append(Problem(document.file, document.line_of(("spec", "adapter")), str(exc)))
        return None
    try:
        settings = spec.settings.model_validate(model.spec.config, context={"base_dir": document.base_dir})
    except ValidationError as exc:
        problems += _problems_from(exc, document, ("spec", "config"), spec.settings)
        return None
    # optional deeper checks an adapter offers (e.g. the crontab files a cron instance
    # names): (file, line, reason) in another file, or (field path, None, reason) here
    check = getattr(settings, "config_problems", None)
    # a zoned instance's files live in its zone, out of this machine's sight
    if callable(check) and model.spec.zone is None:
        for where, line, reason in check():
            if isinstance(where, str):
                problems.append(Problem(where, line or 0, reason))
            else:
                problems.append(Problem(document.file, document.line_of(("spec", "config", *(where or ()))), reason))
    return settings


def _problems_from(exc: ValidationError, document: YamlDocument, prefix: tuple[Any, ...],
                   model: type[BaseModel] | None = None) -> list[Problem]:
    found = []
    for error in exc.errors():
        loc = (*prefix, *error["loc"])
        reason = error["msg"]
        if error["type"] == "extra_forbidden":
            reason = "unknown field" + _did_you_mean(str(error["loc"][-1]), model, error["loc"][:-1])
        elif error["type"] == "missing":
            reason = "required field is missing"
        elif reason.startswith("Value error, "):
            reason = reason[len("Value error, "):]
            # a model-level validator may name the field it objects to: "then[0].params.X: ..."
            inner = _LEADING_PATH.match(reason)
            if inner:
                loc = (*loc, *_split_path(inner.group(1)))
                reason = reason[inner.end():]
        found.append(Problem(document.file, document.line_of(loc), f"{_dotted(loc)}: {reason}"))
    return found


_LEADING_PATH = re.compile(r"^([A-Za-z_][\w-]*(?:\[\d+\]|\.[\w-]+)*): ")


def _split_path(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", path)]


def _did_you_mean(name: str, model: type[BaseModel] | None, parent: tuple[Any, ...]) -> str:
    if model is None or parent:
        return ""
    fields = list(model.model_fields)
    close = difflib.get_close_matches(name, fields, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(fields)})"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "document"


def _duplicates(loaded: list[Loaded]) -> list[Problem]:
    seen: dict[tuple[str, str], Loaded] = {}
    problems = []
    for item in loaded:
        key = (item.kind, item.name)
        if key in seen:
            first = seen[key]
            problems.append(Problem(item.source.file, item.source.line_of(("metadata", "name")),
                                    f"duplicate {item.kind} name {item.name!r} (first defined at "
                                    f"{first.source.file}:{first.source.line_of(('metadata', 'name'))})"))
        else:
            seen[key] = item
    return problems
