"""Sphinx configuration of fpdiff's documentation site.

Build (from the repository root)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

``tests/test_docs.py`` runs the same build into a temporary folder. The
gallery runs every script of ``examples/`` once, at its reduced size
(``FPDIFF_EXAMPLE_SIZE=small``), and shows the PNG figures the script writes.
"""

import os
import pathlib
import shutil
import sys

DOCS = pathlib.Path(__file__).resolve().parent
REPOSITORY = DOCS.parent
sys.path.insert(0, str(REPOSITORY))  # document this checkout's fpdiff, not another installed copy

import fpdiff  # noqa: E402

project = "fpdiff"
author = "the fpdiff authors"
copyright = "fpdiff authors, MIT licence"
version = release = fpdiff.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/README.md", "api/generated/*.md"]
# sphinx-gallery's configuration holds functions (reset_argv, the scraper): Sphinx cannot pickle it, which only
# means a configuration change rebuilds everything
suppress_warnings = ["config.cache"]

# ------------------------------------------------------------------ the API reference
autosummary_generate = True
autosummary_imported_members = False
# the summaries cite their sources ("Song et al. (2021), eq. (32)"): an abbreviation does not end the first sentence
import sphinx.ext.autosummary as _autosummary  # noqa: E402

_autosummary.WELL_KNOWN_ABBREVIATIONS += (" eq.", " Eq.", " eqs.", " Fig.", " Sec.", " Thm.", " Prop.", " cf.")
autodoc_typehints = "none"  # the numpy docstrings state the types
numpydoc_show_class_members = False  # each class page lists its methods through autosummary templates below
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
add_module_names = False
templates_path = ["_templates"]

# every cross-reference must resolve (a renamed function fails the build), except other projects' objects
# (intersphinx would need the network); a reference to an object the API reference does not document (a private
# helper, a module) is written as plain ``code`` instead, or listed below with the reason it cannot be
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(numpy|scipy|xarray|json|torch|jax)(\..*)?")]
nitpick_ignore = [
    # examples/export_score.py names its own functions, which are the script's, not the package's
    ("py:func", "export"),
    ("py:func", "torch_predictor"),
]

# ------------------------------------------------------------------ Markdown pages
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3  # the pages link to their own sections (experiments.md#sweeps)

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "xarray": ("https://docs.xarray.dev/en/stable", None),
}
# the build must not need the network (CI, offline machines): intersphinx only where its inventories are cached
if os.environ.get("FPDIFF_DOCS_OFFLINE", "1") == "1":
    intersphinx_mapping = {}

# ------------------------------------------------------------------ the gallery
GALLERY_OUTPUT = DOCS / "_build" / "gallery-figures"
#: the scripts that do not run as ``python NAME.py`` with no arguments (export_score.py takes a command)
ARGUMENTS = {"export_score.py": lambda out: ["demo", os.path.join(out, "score.h5")]}


def example_arguments(gallery_conf, script_vars):
    """``sys.argv[1:]`` of an example run by the gallery: its figures go into a folder of the build."""
    name = os.path.basename(script_vars["src_file"])
    out = GALLERY_OUTPUT / name[:-3]
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    return ARGUMENTS[name](str(out)) if name in ARGUMENTS else ["--out", str(out)]


class WrittenFigures:
    """sphinx-gallery image scraper: the PNG files the example wrote (the scripts save and close their figures)."""

    def __call__(self, block, block_vars, gallery_conf):
        from sphinx_gallery.scrapers import figure_rst

        name = os.path.basename(block_vars["src_file"])[:-3]
        written = sorted((GALLERY_OUTPUT / name).glob("*.png"))
        new = [path for path in written if path not in block_vars.setdefault("fpdiff_shown", set())]
        paths = []
        for path, target in zip(new, block_vars["image_path_iterator"]):
            shutil.copyfile(path, target)
            block_vars["fpdiff_shown"].add(path)
            paths.append(target)
        return figure_rst(paths, gallery_conf["src_dir"])

    def __repr__(self):  # sphinx-gallery compares configurations by repr: keep it stable between builds
        return "WrittenFigures()"


os.environ.setdefault("FPDIFF_EXAMPLE_SIZE", "small")  # examples/_common.py: the reduced size
sphinx_gallery_conf = {
    "examples_dirs": str(REPOSITORY / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/[a-z]",  # run every script (not only plot_*.py); _common.py is the scripts' plumbing
    "ignore_pattern": r"^_",  # matched against the file name
    "reset_argv": example_arguments,
    "image_scrapers": (WrittenFigures(),),
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "plot_gallery": True,
    "abort_on_example_error": True,
    "show_memory": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
}

# ------------------------------------------------------------------ HTML
html_theme = "pydata_sphinx_theme"
html_title = f"fpdiff {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_static_path = []
html_show_sourcelink = False


def example_title(app, docname, source):
    """Give a gallery page its title: the first line of the script's docstring, underlined.

    The scripts' docstrings open with a summary line (their ``--help``), not a
    reStructuredText section title; sphinx-gallery writes the docstring as it is.
    """
    if not docname.startswith("auto_examples/") or docname.endswith("index"):
        return
    name = docname.split("/", 1)[1]
    label = f".. _sphx_glr_auto_examples_{name}.py:\n\n"
    head, found, rest = source[0].partition(label)
    if found and not rest.startswith(".."):
        title, _, body = rest.partition("\n\n")
        title = " ".join(title.split()).rstrip(".")  # a page title, not a sentence
        # the scripts' docstrings name fpdiff's objects as the package's own docstrings do
        source[0] = f"{head}{label}{title}\n{'=' * len(title)}\n\n.. currentmodule:: fpdiff\n\n{body}"


#: names the docstrings use for objects documented under another name
ALIASES = {"fpdiff.learn": "fpdiff.scores.fit", "fpdiff.audit": "fpdiff.audit.audit"}


def resolve_fpdiff_names(app, env, node, contnode):
    """Resolve a Python reference as the docstrings mean it: names of the ``fpdiff`` namespace from anywhere.

    Docstrings say ``:class:`DensitySolution``` or ``:func:`metrics.compare```
    in every module, as a user reads them after ``import fpdiff``; Sphinx looks
    only in the current module. A method named without its class is looked up
    along the documented class's bases (``OU`` inherits ``sigma``).
    """
    if node.get("refdomain") != "py":
        return None
    domain = env.get_domain("py")
    target = node["reftarget"].lstrip("~.")
    for alias, name in ALIASES.items():
        if target == alias or target.startswith(alias + "."):
            target = name + target[len(alias):]
    module = node.get("py:module") or "fpdiff"
    candidates = [target, f"fpdiff.{target}", f"{module}.{target}"]
    context = node.get("py:class")
    if context:
        candidates.append(f"{module}.{context}.{target}")
        owner = _find(f"{module}.{context}") or _find(f"fpdiff.{context}")
        for base in getattr(owner, "__mro__", ())[1:]:
            candidates.append(f"fpdiff.{base.__name__}.{target}")
    # then: the one documented object whose name ends with the target (``AuditResult.summary``)
    ending = [name for name in domain.objects if name.endswith("." + target)]
    candidates += ending if len(ending) == 1 else []
    # last: the documented name of the same object (``fpdiff.processes.base.LinearProcess`` is ``fpdiff.LinearProcess``)
    # (and a method of it: ``fpdiff.processes.LinearProcess.to_dict``)
    for name in (target, f"fpdiff.{target}", f"{module}.{target}"):
        owner, _, member = name.rpartition(".")
        for head, tail in ((name, ""), (owner, "." + member)):
            value = _find(head)
            same = _documented_names(domain).get(id(value)) if value is not None else None
            if same:
                candidates.append(same + tail)
    for candidate in candidates:
        if candidate in domain.objects:
            return domain.resolve_xref(env, node["refdoc"], app.builder, node["reftype"], candidate, node, contnode)
    return None


_DOCUMENTED = {}


def _documented_names(domain):
    """``{id(object): documented name}`` of the documented classes and functions (built once per build)."""
    if len(_DOCUMENTED) != 1 or next(iter(_DOCUMENTED)) != len(domain.objects):
        names = {}
        for name, entry in sorted(domain.objects.items()):
            value = _find(name) if entry.objtype in ("class", "function", "data", "method", "exception") else None
            if value is not None and (callable(value) or isinstance(value, (dict, tuple))):
                names.setdefault(id(value), name)
        _DOCUMENTED.clear()
        _DOCUMENTED[len(domain.objects)] = names
    return next(iter(_DOCUMENTED.values()))


def _find(dotted):
    """The object named ``dotted`` (a module's attribute), or None."""
    import importlib

    module, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError):
        return None


def setup(app):
    app.connect("missing-reference", resolve_fpdiff_names)
    app.connect("source-read", example_title)
