"""The package's CPython extension: pack, unpack and route with Python objects in and out
(``bindings/src/python.rs``, built with pyo3 into the same native library as the UniFFI
scaffolding, see docs/adr/0005-python-native-module.md).

The library is the file the generated module loads with ctypes; importing it as an extension
module (``importlib``'s documented loader for a file at a known path) maps the same file
again, so both share one copy of its state: the engines, their caches and the runtime. An
engine crosses from the generated module to the extension by number
(``DidComm.python_handoff()`` then ``Engine(number)``), never through UniFFI's private
declarations.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType

from ._native import didcomm_edge as _ffi


def _library_path() -> str:
    # Where and under which name the generated module loads the library (its own rule).
    folder = os.path.dirname(os.path.abspath(_ffi.__file__))
    if sys.platform == "darwin":
        name = "libdidcomm_edge_ffi.dylib"
    elif sys.platform.startswith("win"):
        name = "didcomm_edge_ffi.dll"
    else:
        name = "libdidcomm_edge_ffi.so"
    return os.path.join(folder, name)


def _load() -> ModuleType:
    name = "didcomm_edge._native._fastpath"
    path = _library_path()
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:  # pragma: no cover - only for a loader that refuses the path
        raise ImportError(f"cannot load the extension from {path}")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[name] = module
    return module


_EXTENSION = _load()
Engine = _EXTENSION.Engine
"""``Engine(number)``: the engine handed over by ``DidComm.python_handoff()``."""
INLINE_LIMIT: int = _EXTENSION.INLINE_LIMIT
"""Inputs longer than this many bytes never run on the event loop's thread."""
