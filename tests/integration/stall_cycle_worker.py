"""A `tepat worker` stalling in the middle of a payment cycle's work (`python -m tests.integration.stall_cycle_worker`).

TEPAT_TEST_STALL_AT says where, and the fault tests (test_workers.py) kill it there with SIGKILL:

- "results": in a results import's second chunk, its lines taken but not committed (payments/results.take_lines);
- "results_file": in the check of an uploaded results file, its lines staged but not committed (results._Stager);
- "dispatch": in the HTTP dispatch, after the bank took the third part and before that part is remembered
  (parts of 5 payments here).

It writes its pid to TEPAT_TEST_STALL_MARKER when it stalls.
"""

import os
import sys
import time
from pathlib import Path


def _stall():
    marker = Path(os.environ["TEPAT_TEST_STALL_MARKER"])
    where = os.environ["TEPAT_TEST_STALL_AT"]
    calls = {"n": 0}

    def stall_after(original, nth):
        def stalled(*args, **kwargs):
            result = original(*args, **kwargs)
            calls["n"] += 1
            if calls["n"] == nth and not marker.exists():
                marker.write_text(str(os.getpid()))
                time.sleep(120)  # killed here
            return result

        return stalled

    if where == "results":
        import payments.results as results

        results.take_lines = stall_after(results.take_lines, 2)
    elif where == "results_file":
        import payments.results as results

        results._Stager.flush = stall_after(results._Stager.flush, 1)
    elif where == "dispatch":
        import integrations.http.paying_bank as paying_bank

        paying_bank.SEND_CHUNK = 5
        paying_bank.HttpPayingBank.send_part = stall_after(paying_bank.HttpPayingBank.send_part, 3)
    else:
        raise SystemExit(f"unknown TEPAT_TEST_STALL_AT {where!r}")


if __name__ == "__main__":
    _stall()
    from web.cli import main

    sys.argv = ["tepat", "worker", *sys.argv[1:]]
    main()
