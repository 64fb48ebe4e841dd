"""The library knows nothing of Prefect: importing every module of `labelrounds` loads no `prefect` module."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import importlib, pkgutil, sys
import labelrounds
names = [module.name for module in pkgutil.walk_packages(labelrounds.__path__, "labelrounds.")]
for name in names:
    importlib.import_module(name)
loaded = sorted(name for name in sys.modules if name == "prefect" or name.startswith("prefect."))
print(len(names), loaded[:5])
"""


def test_library_imports_no_prefect() -> None:
    """Every module of the library imports cleanly in a fresh interpreter without pulling in Prefect."""
    result = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    count, loaded = result.stdout.split(" ", 1)
    assert int(count) > 20
    assert loaded.strip() == "[]", f"labelrounds imported Prefect modules: {loaded}"
