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

#: pages that other work adds (docs/models.md, "bring your model"): in the user guide's toctree once they exist,
#: left out (instead of failing the build) while they do not
OPTIONAL_PAGES = ("models",)

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/README.md", "api/generated/*.md"]
# sphinx-gallery's configuration holds functions (reset_argv, the scraper): Sphinx cannot pickle it, which only
# means a configuration change rebuilds everything
suppress_warnings = ["config.cache"]

# ------------------------------------------------------------------ the API reference
autosummary_generate = True
autosummary_imported_members = False
autodoc_typehints = "none"  # the numpy docstrings state the types
numpydoc_show_class_members = False  # each class page lists its methods through autosummary templates below
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
add_module_names = False
templates_path = ["_templates"]

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


def leave_out_missing_pages(app, docname, source):
    """Drop the :data:`OPTIONAL_PAGES` that do not exist from the user guide's toctree."""
    if docname == "guide/index":
        for page in OPTIONAL_PAGES:
            if not (DOCS / f"{page}.md").exists():
                source[0] = source[0].replace(f"../{page}\n", "")


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
        title = " ".join(title.split())
        source[0] = f"{head}{label}{title}\n{'=' * len(title)}\n\n{body}"


def setup(app):
    app.connect("source-read", leave_out_missing_pages)
    app.connect("source-read", example_title)
