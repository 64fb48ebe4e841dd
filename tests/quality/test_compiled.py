"""`labelrounds.quality.compiled`: numba loaded at the first call of a compiled loop, not at import.

Oracles: `sys.modules` of a fresh interpreter (is numba there after the import?), and plain Python arithmetic for
what two marked functions, one calling the other, return when first called from many threads at once.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

NUMBA_LOADED = "import sys; {before}import labelrounds.quality; print('numba' in sys.modules)"


def numba_loaded_after_import(before: str = "") -> bool:
    """Whether a fresh interpreter holds numba after `import labelrounds.quality` (and `before`)."""
    done = subprocess.run(
        [sys.executable, "-c", NUMBA_LOADED.format(before=before)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip() == "True"


def test_importing_the_quality_package_does_not_load_numba() -> None:
    """The CLI imports the quality package through the round's steps: numba (~0.18 s) must wait for scoring.
    Mutant: an interpreter that imports numba first is seen holding it, so the check can fail."""
    assert not numba_loaded_after_import()
    assert numba_loaded_after_import(before="import numba; ")


KERNELS = '''
from labelrounds.quality.compiled import compiled


@compiled
def twice(value):
    return 2 * value


@compiled
def twice_plus_one(value):
    return twice(value) + 1
'''


@pytest.fixture
def kernels(tmp_path: Path):
    """A fresh module of two marked functions (the second calls the first), never called yet."""
    path = tmp_path / "lazy_kernels.py"
    path.write_text(textwrap.dedent(KERNELS))
    spec = importlib.util.spec_from_file_location("lazy_kernels", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["lazy_kernels"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["lazy_kernels"]


def test_first_calls_from_many_threads_compile_once_and_agree(kernels) -> None:
    """Sixteen threads make the module's first calls together: every answer is 2x + 1, and afterwards both names
    are numba dispatchers (the one that was only called from the other too)."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(kernels.twice_plus_one, range(64)))
    assert answers == [2 * value + 1 for value in range(64)]
    assert type(kernels.twice).__name__ == type(kernels.twice_plus_one).__name__ == "CPUDispatcher"
