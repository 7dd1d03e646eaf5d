"""Runs ``edgel3-mote`` argument lists in one process and reports each outcome as JSON.

Used by the bad-input tests in a subprocess (as an unprivileged user when the tests run as root, so
that a read-only folder is read-only): ``python cli_driver.py CASES.json`` prints
``{"results": [{"rc", "stderr", "tensorflow_imported"}...], "tensorflow_imported": bool}`` (imported
by that case or an earlier one; at the end).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys


def run(argv: list[str]) -> dict:
    from edgel3_mote.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # noqa: BLE001 -- a traceback is exactly what the tests look for
            import traceback

            traceback.print_exc(file=err)
            rc = f"uncaught {type(exc).__name__}"
    return {"rc": rc, "stderr": err.getvalue(), "tensorflow_imported": "tensorflow" in sys.modules}


if __name__ == "__main__":
    cases = json.loads(open(sys.argv[1]).read())
    results = [run(argv) for argv in cases]
    print(json.dumps({"results": results, "tensorflow_imported": "tensorflow" in sys.modules}))
