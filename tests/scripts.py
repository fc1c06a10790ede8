"""Import the project's stand-alone scripts (scripts/...) as modules, for their tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(relative_path: str):
    """The module of scripts/<relative_path>, with its own folder importable while it loads.

    Registered in sys.modules under its file name: dataclasses look their module up there, and a
    script may import its neighbours (as it does when run from the command line).
    """
    path = SCRIPTS / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module
