"""Runs SDK scripts in forked children of one process that imported the SDK once (the import costs ~2 s of CPU).

Protocol: one JSON request a line on stdin ({"script", "cwd", "env", "stdout", "stderr"}); for each, a child is
forked that takes `env` as its whole environment, `cwd` as its directory and the two paths as its stdout and stderr,
and runs the script as `__main__` the way `python <script>` would. The reply is one line, {"returncode": n}.
The SDK reads its settings (retry sleep, https probe, HOME's supervisely.env) when called, not when imported, so
a script sees only its own environment.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

import sdk_output  # noqa: F401 - imported once here with its requests dependency, inherited by every child
import supervisely  # noqa: F401 - imported once here, inherited by every child

SCRIPTS_DIR = str(Path(__file__).resolve().parent)


def _exit_code(code: object) -> int:
    """The process exit status `sys.exit(code)` would give."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _child(request: dict[str, Any]) -> int:
    """In the forked child: take the request's directory, environment and output files, run the script."""
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    streams = ((0, os.devnull, os.O_RDONLY), (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
               (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
    for fd, path, flags in streams:  # stdin off the request pipe: a script must never read the next request
        target = os.open(path, flags, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.path[0] = SCRIPTS_DIR
    try:
        runpy.run_path(request["script"], run_name="__main__")
    except SystemExit as stop:
        return _exit_code(stop.code)
    except BaseException:  # noqa: BLE001 - reported like an uncaught exception of `python <script>`
        traceback.print_exc()
        return 1
    return 0


def main() -> None:
    """Serve requests until stdin closes."""
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = _child(request)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        sys.stdout.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
    os._exit(0)  # nothing to flush or clean up; skips tearing down the SDK's ~2,500 modules
