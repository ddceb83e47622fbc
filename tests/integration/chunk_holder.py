"""A worker at work on a run chunk, in a process of its own, until it is killed.

`python -m tests.integration.chunk_holder DATABASE_URL RUN CHUNK ITEM MARKER`: holds the chunk as
web/runs_exec.execute_chunk does (engine.runs.hold_chunk), commits that it begins ITEM, writes its pid to
MARKER and sleeps. The test kills it with SIGKILL: a worker that died in the middle of that item.
"""

import os
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from engine.runs import hold_chunk, mark_taken


def main(url, run_id, seq, item, marker):
    engine = create_engine(url)
    with Session(engine) as session, hold_chunk(session, run_id, seq) as held:
        if not held:
            sys.exit("the chunk is held by someone else")
        mark_taken(session, run_id, seq, item)
        session.commit()
        Path(marker).write_text(str(os.getpid()))
        time.sleep(120)  # killed here


if __name__ == "__main__":
    url, run_id, seq, item, marker = sys.argv[1:6]
    main(url, int(run_id), int(seq), int(item), marker)
