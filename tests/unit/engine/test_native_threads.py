"""BANSOS_NATIVE_THREADS: the native math libraries of a Tepat process use one thread each."""

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from engine import native_threads


def _blas_threads():
    return {info["internal_api"]: info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}


def test_an_app_limits_numpys_blas_to_the_setting():
    from web import create_app

    threadpool_limits(limits=2)  # as the libraries start on this 2-core machine (an earlier app may have set 1)
    assert set(_blas_threads().values()) == {2}
    create_app({"BANSOS_DATABASE_URL": "sqlite://", "BANSOS_SCHEDULER_ENABLED": False, "BANSOS_NATIVE_THREADS": 1})
    found = _blas_threads()
    assert found, "numpy's BLAS was not found by threadpoolctl"
    assert set(found.values()) == {1}
    a = np.random.default_rng(0).standard_normal((4000, 128)).astype(np.float32)
    assert (a @ a[0]).shape == (4000,)  # still computes


def test_faiss_gets_the_limit_when_the_index_turns_approximate():
    import faiss

    from integrations.face_matrix import AnnMatrix

    native_threads.limit(1)
    faiss.omp_set_num_threads(2)  # faiss loaded after the limit keeps its own default
    threadpool_limits(limits=2)
    vectors = np.random.default_rng(1).standard_normal((2000, 128)).astype(np.float32)
    ann = AnnMatrix(vectors, nlist=16)
    assert ann._faiss.omp_get_max_threads() == 1
    assert set(_blas_threads().values()) == {1}  # faiss's own OpenBLAS too
