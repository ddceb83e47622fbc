"""A `tepat worker` whose first service call stalls after its effect: `python -m tests.integration.stall_worker`.

The fault test kills it with SIGKILL while it stalls, i.e. in the middle of a step: the outbound
call has been made inside the step's transaction, which is never committed. It writes its pid to
TEPAT_TEST_STALL_MARKER when it stalls.
"""

import os
import sys
import time
from pathlib import Path


def _stall_first_call():
    from tasks.base import load_handlers

    handlers = load_handlers()
    marker = Path(os.environ["TEPAT_TEST_STALL_MARKER"])

    def wrap(original):
        def stalled(ctx, **params):
            result = original(ctx, **params)
            if not marker.exists():
                marker.write_text(str(os.getpid()))
                time.sleep(120)  # killed here
            return result

        return stalled

    for operator, fn in list(handlers.items()):
        handlers[operator] = wrap(fn)


if __name__ == "__main__":
    _stall_first_call()
    from web.cli import main

    sys.argv = ["tepat", "worker", *sys.argv[1:]]
    main()
