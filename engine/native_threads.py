"""How many threads the native math libraries of one process may use (``BANSOS_NATIVE_THREADS``).

numpy's OpenBLAS starts a pool of (cores - 1) threads on its first matrix product, and after each
product those threads keep spinning for a while before they sleep; faiss's OpenMP does the like. A
deployment runs one process per core (``gunicorn --workers``, ``tepat worker --concurrency``), so
these threads only take cores from the other processes and from PostgreSQL. Measured with
``bench/scale.py`` on 2 cores: one ``tepat worker`` process used 1.16 cores, its OpenBLAS thread
38% of its CPU time, for a 1:N face search that one thread does as fast.

``limit`` applies the setting to the libraries loaded now (threadpoolctl) and remembers it for faiss,
which is loaded only when the face index turns approximate (``integrations/face_matrix.py`` calls
``apply_to_faiss``). 0 leaves every library its own default.
"""

from threadpoolctl import threadpool_limits

_configured: int | None = None


def limit(count):
    """Let the native libraries of this process use at most `count` threads (0: their own default)."""
    global _configured
    count = int(count)
    if count <= 0:
        return
    import numpy  # noqa: F401 - loads OpenBLAS, so that the limit reaches it

    _configured = count
    threadpool_limits(limits=count)


def apply_to_faiss(faiss):
    """Give faiss the limit, if one is set (called where faiss is imported)."""
    if _configured is not None:
        faiss.omp_set_num_threads(_configured)
        threadpool_limits(limits=_configured)  # and the OpenBLAS its wheel brings along
