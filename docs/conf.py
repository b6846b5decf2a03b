"""Sphinx configuration of the sparsenode documentation (``make docs``)."""

from __future__ import annotations

import shutil
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
# import the package from the source tree, so the docs always describe the checked-out code
sys.path.insert(0, str(ROOT / "src"))

import sparsenode  # noqa: E402

# -- the tutorials live in ../tutorials (committed with outputs); sphinx needs them inside the source folder, so
#    every build copies them into docs/tutorials/ (git-ignored) next to the hand-written docs/tutorials.md page.
_TUTORIALS_SRC = ROOT / "tutorials"
_TUTORIALS_DST = HERE / "tutorials"
if _TUTORIALS_DST.exists():
    shutil.rmtree(_TUTORIALS_DST)
_TUTORIALS_DST.mkdir()
for notebook in sorted(_TUTORIALS_SRC.glob("*.ipynb")):
    shutil.copy2(notebook, _TUTORIALS_DST / notebook.name)

project = "sparsenode"
author = "sparsenode developers"
copyright = f"{date.today().year}, {author}"
release = sparsenode.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxcontrib.bibtex",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "README.md", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "gallery/*.py"]
# .rst first: autosummary writes its generated pages with the first suffix whose parser reads reStructuredText
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
master_doc = "index"

# -- API reference: numpydoc docstrings through napoleon, one generated page per object (docs/generated/)
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "bysource"
autodoc_typehints = "description"  # types from the signatures go next to each parameter's text
autodoc_typehints_description_target = "documented_params"
autodoc_default_options = {"show-inheritance": False}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_include_init_with_doc = False
napoleon_use_rtype = False  # keep the Returns text (what is written into AnnData) in one block
napoleon_use_param = True
napoleon_use_ivar = True  # dataclass "Attributes" as :ivar: fields, not a second description of each attribute
napoleon_preprocess_types = False

# -- notebooks and markdown
nb_execution_mode = "off"  # tutorials are committed with their outputs; `make tutorials` executes them
nb_merge_streams = True
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "amsmath", "substitution"]
myst_heading_anchors = 3

# -- references
bibtex_bibfiles = ["references.bib"]
bibtex_default_style = "plain"
bibtex_reference_style = "author_year"

# -- HTML
html_theme = "sphinx_book_theme"
html_title = f"sparsenode {release}"
html_static_path = ["_static"]
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
}

# Pages that analyses add later (docs/hematopoiesis.md, docs/mocap.md, docs/benchmark*.md): index.md's "Analyses"
# table of contents lists those that exist. (A toctree glob would warn, and so fail the build, while none exists.)
OPTIONAL_PAGES = ["accuracy*", "hematopoiesis*", "mocap*", "benchmark*"]
_OPTIONAL_MARKER = "optional-pages-listed-by-conf-py"


def _optional_pages() -> list[str]:
    found = []
    for pattern in OPTIONAL_PAGES:
        for suffix in (".md", ".ipynb"):
            found += sorted(p.stem for p in HERE.glob(pattern + suffix))
    return list(dict.fromkeys(found))


def _describe_registry(app, what, name, obj, options, lines):
    """Describe module-level registries (plain dicts such as ``sn.bm.BASELINES``) from their actual keys.

    The registries carry no docstring of their own, so autodoc would print ``dict``'s docstring; this writes what
    they are and a runnable example instead.
    """
    if what not in ("data", "attribute") or not isinstance(obj, dict | list | tuple):
        return
    short = name.removeprefix("sparsenode.")
    if not isinstance(obj, dict):  # constant sequences (column names, method names)
        lines[:] = [
            f"Constant: a ``{type(obj).__name__}`` of {len(obj)} names.",
            "",
            "Examples",
            "--------",
            ">>> import sparsenode as sn",
            f">>> list(sn.{short})",
            repr([str(v) for v in obj]),
        ]
        return
    keys = ", ".join(f"``{k!r}``" for k in obj)
    lines[:] = [
        f"Registry: a ``dict`` from name to entry, with the keys {keys}.",
        "",
        "Examples",
        "--------",
        ">>> import sparsenode as sn",
        f">>> sorted(sn.{short})",
        repr(sorted(map(str, obj))),
    ]


def _fill_optional_pages(app, docname, source):
    """Put the optional pages that exist into index.md's "Analyses" toctree (see ``OPTIONAL_PAGES``)."""
    if docname == "index":
        source[0] = source[0].replace(_OPTIONAL_MARKER, "\n".join(_optional_pages()))


def setup(app):
    """Register the docstring hook."""
    app.connect("autodoc-process-docstring", _describe_registry, priority=400)  # before napoleon
    app.connect("source-read", _fill_optional_pages)
