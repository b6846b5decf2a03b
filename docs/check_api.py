"""Check that the API reference lists every public name of sparsenode (run by ``make docs``).

Public names are ``sparsenode.__all__`` and the ``__all__`` of every public subpackage and of ``sparsenode.bm.metrics``.
A name counts as listed when ``api.md`` names it under any path that reaches the same object (``sn.SparseNODE`` also
covers ``sparsenode.model.SparseNODE``). Every public function and class must also have an ``Examples`` section in
its docstring (registries, plain dicts, get theirs from ``conf.py``). Exits 1 and prints what is missing otherwise.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "src"))

import sparsenode  # noqa: E402


def public_names() -> dict[str, object]:
    """``{"sparsenode.sub.name": object}`` for every name in a public ``__all__``."""
    modules = ["sparsenode", "sparsenode.bm.metrics"]
    modules += [f"sparsenode.{m.name}" for m in pkgutil.iter_modules(sparsenode.__path__) if not m.name.startswith("_")]
    names = {}
    for modname in modules:
        mod = importlib.import_module(modname)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            if inspect.ismodule(obj) or name == "__version__":
                continue
            names[f"{modname}.{name}"] = obj
    return names


def listed_names(api: str) -> set[str]:
    """Fully qualified names in the autosummary tables of ``api.md``."""
    listed = set()
    current = "sparsenode"
    for line in api.splitlines():
        m = re.match(r"\s*\.\. currentmodule:: (\S+)", line)
        if m:
            current = m.group(1)
            continue
        m = re.match(r"^   ([A-Za-z_][\w.]*)\s*$", line)
        if m:
            listed.add(f"{current}.{m.group(1)}")
    return listed


def main() -> int:
    """Print missing names; return a process exit code."""
    api = (HERE / "api.md").read_text()
    listed = listed_names(api)
    objects = public_names()
    documented_ids = set()
    for full in listed:
        parts = full.split(".")
        obj = importlib.import_module(parts[0])
        try:
            for p in parts[1:]:
                obj = getattr(obj, p)
        except AttributeError:
            print(f"api.md lists {full}, which does not exist")
            return 1
        documented_ids.add(id(obj))
    missing = sorted(n for n, obj in objects.items() if n not in listed and id(obj) not in documented_ids)
    for name in missing:
        print(f"missing from docs/api.md: {name}")
    no_example = sorted(
        name
        for name, obj in objects.items()
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and "\nExamples\n" not in (inspect.getdoc(obj) or "")
    )
    for name in no_example:
        print(f"no Examples section in the docstring of {name}")
    print(
        f"{len(objects)} public names, {len(objects) - len(missing)} in docs/api.md,",
        f"{len(no_example)} without an example",
    )
    return 1 if missing or no_example else 0


if __name__ == "__main__":
    raise SystemExit(main())
