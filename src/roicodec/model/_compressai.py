"""CompressAI without the cost of its package ``__init__``: imported by ``roicodec.model`` first.

roicodec uses three CompressAI submodules: ``entropy_models`` (EntropyBottleneck,
GaussianConditional), ``ans`` (the rANS coder) and ``layers``. A plain ``import compressai`` runs
``compressai/__init__.py``, which imports every subpackage eagerly; ``compressai.datasets`` reaches
``compressai.registry``, whose transform registry imports torch_geometric and, through it,
torch._dynamo: most of a 6 s, 950 MB ``roicodec --version`` (issue 25, docs/cold_start.md).
``compressai.entropy_models`` also imports scipy.stats (over 1 s) for one call,
``scipy.stats.norm.ppf`` in ``GaussianConditional.update``, which runs only when CDF tables are
built (training; shipped weights carry their tables).

``install()`` runs when this module is imported, before any model module imports compressai:

* If ``compressai`` is imported already, it is used as it is.
* Otherwise it registers the real ``compressai`` package (its own spec, ``__path__``, ``__file__``)
  and runs its real ``__init__.py`` with one difference: the top-level ``from compressai import
  (datasets, entropy_models, ...)`` of its subpackages is deferred, PEP 562 style, to the first
  access of each name. The rest runs as written (entropy-coder choice, ``__version__``), so
  ``compressai.get_entropy_coder()``, which EntropyModel calls, is CompressAI's own, and a later
  ``import compressai`` in the same process gets the whole package, each subpackage loading on
  first use (``compressai.zoo``, ``compressai.datasets``...). What still differs: registries that
  subpackages fill when imported (``compressai.registry.MODELS``) are empty until those subpackages
  are imported (``import compressai.zoo``); import compressai before roicodec to get the eager package.
* While ``compressai.entropy_models`` is imported, ``scipy.stats`` (if not imported yet) is a
  placeholder: that module binds only ``scipy`` and reads ``scipy.stats`` when it calls it, and
  then scipy's own lazy submodule loading (``scipy.__getattr__``) imports the real scipy.stats.
  If a CompressAI version needs scipy.stats at import time, the import is retried without the
  placeholder, as it would be with no workaround.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import sys
import types

#: The submodules roicodec uses, imported here so that every model module finds them loaded.
SUBMODULES = ("compressai.entropy_models", "compressai.ans", "compressai.layers")


def install() -> None:
    if "compressai" not in sys.modules:
        _register_package_with_lazy_subpackages("compressai")
    if "compressai.entropy_models" not in sys.modules:
        _import_deferring("compressai.entropy_models", "scipy.stats")
    for name in SUBMODULES:
        importlib.import_module(name)


def _register_package_with_lazy_subpackages(name: str) -> None:
    """Register package ``name`` from its real ``__init__.py`` minus its eager ``from <name> import
    <subpackages>`` statements, which become PEP 562 attributes imported on first access."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.submodule_search_locations is None or not hasattr(spec.loader, "get_source"):
        importlib.import_module(name)  # not a plain source package: the ordinary import
        return
    submodules = {m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)}
    tree = ast.parse(spec.loader.get_source(name), spec.origin)
    deferred: set[str] = set()
    body = []
    for node in tree.body:
        if (isinstance(node, ast.ImportFrom) and (node.module, node.level) in ((name, 0), (None, 1))
                and all(a.name in submodules and a.asname is None for a in node.names)):
            deferred.update(a.name for a in node.names)
        else:
            body.append(node)
    if not deferred:
        importlib.import_module(name)
        return
    tree.body = body
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        exec(compile(tree, spec.origin, "exec"), module.__dict__)
    except BaseException:
        del sys.modules[name]
        raise
    own_getattr = module.__dict__.get("__getattr__")

    def __getattr__(attr: str):
        if attr in deferred:
            # The import system binds the submodule on the package: this runs once per name.
            return importlib.import_module(f"{name}.{attr}")
        if own_getattr is not None:
            return own_getattr(attr)
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__getattr__ = __getattr__


def _import_deferring(name: str, dependency: str) -> None:
    """Import module ``name`` while ``dependency`` (a submodule its parent package loads lazily) is a
    placeholder; afterwards the placeholder is gone and the first real use imports the real one."""
    if dependency in sys.modules:
        importlib.import_module(name)
        return
    placeholder = types.ModuleType(dependency, "placeholder while roicodec imports CompressAI")
    sys.modules[dependency] = placeholder
    try:
        importlib.import_module(name)
    except (ImportError, AttributeError):
        # Needed at import time after all: drop what the failed import left and import normally.
        for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            del sys.modules[mod]
        _drop_placeholder(dependency, placeholder)
        importlib.import_module(name)
    finally:
        _drop_placeholder(dependency, placeholder)


def _drop_placeholder(dependency: str, placeholder: types.ModuleType) -> None:
    if sys.modules.get(dependency) is placeholder:
        del sys.modules[dependency]
    parent, _, child = dependency.rpartition(".")
    # vars(), not getattr(): the parent's __getattr__ would import the real module here.
    if parent in sys.modules and vars(sys.modules[parent]).get(child) is placeholder:
        delattr(sys.modules[parent], child)


install()
