"""Face templates in one float32 matrix, searched by vectorised Euclidean distance (used by face_index)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import cast

import numpy as np

DIMENSION = 128
_NIK = re.compile(r"[0-9]{16}\Z")


def as_template(encoding) -> np.ndarray:
    """Return a face encoding as a float32 vector of 128 finite numbers, or raise ValueError."""
    vector = np.asarray(encoding, dtype=np.float32).reshape(-1)
    if vector.shape != (DIMENSION,) or not np.all(np.isfinite(vector)):
        raise ValueError(f"a face template is {DIMENSION} finite numbers")
    return vector


class TemplateMatrix:
    """Templates in one float32 matrix growing in chunks, searched by vectorised Euclidean distance.

    Not thread-safe and not persistent on its own: ``FaceTemplateIndex`` guards and fills it.
    """

    def __init__(self, chunk_rows: int = 65_536):
        self._chunk = int(chunk_rows)
        self._vectors = np.empty((0, DIMENSION), dtype=np.float32)
        # Squared norms, +inf for removed rows: a removed row is then infinitely far without a mask.
        self._norms = np.empty(0, dtype=np.float32)
        self._ids = np.empty(0, dtype=np.int64)
        self._niks = np.empty(0, dtype=np.int64)  # a NIK is 16 digits: it fits an int64 exactly
        self._rows = 0
        self._live = 0

    def __len__(self) -> int:
        return self._live

    def add_many(self, ids: Iterable[int], niks: Iterable[str], vectors) -> None:
        """Append templates; ids already present are skipped."""
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
        if ids.size == 0:
            return
        niks = np.asarray([nik_number(n) for n in niks] if not isinstance(niks, np.ndarray) else niks, dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), DIMENSION)
        if self._rows and ids.min() <= self._ids[: self._rows].max():
            # Only late-committed rows arrive out of order; they are few, so the scan is cheap.
            fresh = ~np.isin(ids, self._ids[: self._rows])
            ids, niks, vectors = ids[fresh], niks[fresh], vectors[fresh]
        count = len(ids)
        self._reserve(self._rows + count)
        end = self._rows + count
        self._vectors[self._rows : end] = vectors
        self._norms[self._rows : end] = np.einsum("ij,ij->i", vectors, vectors)
        self._ids[self._rows : end] = ids
        self._niks[self._rows : end] = niks
        self._rows = end
        self._live += count

    def remove(self, ids: Iterable[int]) -> int:
        """Drop templates by id; return how many were present."""
        ids = np.asarray(list(ids), dtype=np.int64)
        if ids.size == 0 or self._rows == 0:
            return 0
        hit = np.isin(self._ids[: self._rows], ids) & np.isfinite(self._norms[: self._rows])
        self._norms[: self._rows][hit] = np.inf
        removed = int(hit.sum())
        self._live -= removed
        return removed

    def search(
        self, query, k: int, threshold: float, exclude_nik: str | None = None, below_id: int | None = None
    ) -> list[tuple[int, str, float]]:
        """Return up to ``k`` (template_id, nik, distance) within ``threshold``, nearest first.

        ``below_id``: only templates with a smaller id (a claim searches the claims before its own).
        """
        if self._rows == 0 or k <= 0:
            return []
        q = as_template(query)
        rows = self._rows
        squared = self._vectors[:rows] @ q
        squared *= -2.0
        squared += self._norms[:rows]
        squared += float(q @ q)
        if exclude_nik is not None:
            squared[self._niks[:rows] == nik_number(exclude_nik)] = np.inf
        if below_id is not None:
            squared[self._ids[:rows] >= below_id] = np.inf
        # The expanded form loses a little precision in float32: widen the net, then measure exactly.
        limit = (threshold + 1e-3) ** 2
        near = np.flatnonzero(squared <= limit)
        if near.size > 4 * k:
            near = near[np.argpartition(squared[near], 4 * k)[: 4 * k]]
        exact = np.linalg.norm(self._vectors[near].astype(np.float64) - q.astype(np.float64), axis=1)
        order = np.argsort(exact, kind="stable")
        found: list[tuple[int, str, float]] = []
        for i in order:
            if exact[i] > threshold or len(found) == k:
                break
            row = near[i]
            found.append((int(self._ids[row]), f"{int(self._niks[row]):016d}", float(exact[i])))
        return found

    def live_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return copies of (ids, niks, vectors) of the live templates, for a snapshot."""
        keep = np.isfinite(self._norms[: self._rows])
        return (
            self._ids[: self._rows][keep].copy(),
            self._niks[: self._rows][keep].copy(),
            self._vectors[: self._rows][keep].copy(),
        )

    def _reserve(self, rows: int) -> None:
        capacity = len(self._ids)
        if rows <= capacity:
            return
        # Grow by half again (at least a chunk) so a million appends copy the matrix a few times only.
        new = max(rows, capacity + max(self._chunk, capacity // 2))
        new = -(-new // self._chunk) * self._chunk
        self._vectors = _grown(self._vectors, new, self._rows)
        self._norms = _grown(self._norms, new, self._rows)
        self._ids = _grown(self._ids, new, self._rows)
        self._niks = _grown(self._niks, new, self._rows)


class AnnMatrix:
    """Templates in an approximate-nearest-neighbour index (faiss IVF, 8-bit scalar quantised).

    For large populations, beside ``TemplateMatrix`` (exact): the vectors are split into ``nlist``
    cells by k-means (trained once, on the templates present when the index is built); a search
    measures the 8-bit copies in the ``nprobe`` cells nearest the probe only. 128 bytes a template
    instead of 512, and a few thousand distances a search instead of a million. Its distances are
    approximate (quantisation error well under 0.01) and a duplicate lying across a cell border
    can be missed (recall measured in bench/biometric.py), so it only proposes candidates:
    ``search`` returns those within ``threshold + margin``, and ``FaceTemplateIndex`` re-checks
    every one with the exact distance of the stored template before reporting it.

    Not thread-safe: ``FaceTemplateIndex`` guards and fills it.
    """

    margin = 0.05

    def __init__(self, train_vectors, nlist: int | None = None, nprobe: int | None = None):
        import faiss  # only needed by large populations

        from engine.native_threads import apply_to_faiss

        apply_to_faiss(faiss)

        train_vectors = np.ascontiguousarray(np.asarray(train_vectors, dtype=np.float32).reshape(-1, DIMENSION))
        if nlist is None:
            nlist = self.cells_for(len(train_vectors))
        nlist = int(min(nlist, max(1, len(train_vectors) // 39)))  # k-means wants ~39 points a cell
        self.nlist = nlist
        self.nprobe = int(nprobe or max(16, nlist // 32))
        quantizer = faiss.IndexFlatL2(DIMENSION)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, DIMENSION, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_L2
        )
        rng = np.random.default_rng(0)  # the same cells for the same templates, in every process
        sample = (
            train_vectors
            if len(train_vectors) <= 64 * nlist
            else train_vectors[np.sort(rng.choice(len(train_vectors), 64 * nlist, replace=False))]
        )
        index.train(sample)
        index.nprobe = self.nprobe
        self._faiss = faiss
        self._index = index
        self._quantizer: faiss.IndexFlatL2 | None = quantizer  # owned by the index; kept alive here
        # Row number in this object = the id faiss stores; these arrays map rows to templates.
        self._ids = np.empty(0, dtype=np.int64)
        self._niks = np.empty(0, dtype=np.int64)
        self._alive = np.empty(0, dtype=bool)
        self._rows = 0
        self._live = 0

    def __len__(self) -> int:
        return self._live

    @staticmethod
    def cells_for(population: int) -> int:
        """About sqrt(n) cells (a power of two, 64 to 4,096): 1,024 for a million templates."""
        return 1 << max(6, min(12, int(round(np.log2(max(population, 1)) / 2))))

    def add_many(self, ids, niks, vectors) -> None:
        """Append templates; ids already present are skipped."""
        ids = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64)
        if ids.size == 0:
            return
        niks = np.asarray([nik_number(n) for n in niks] if not isinstance(niks, np.ndarray) else niks, dtype=np.int64)
        vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(len(ids), DIMENSION))
        if self._rows and ids.min() <= self._ids[: self._rows].max():
            fresh = ~np.isin(ids, self._ids[: self._rows])
            ids, niks, vectors = ids[fresh], niks[fresh], vectors[fresh]
        count = len(ids)
        if not count:
            return
        end = self._rows + count
        if end > len(self._ids):
            new = max(end, len(self._ids) + max(65_536, len(self._ids) // 2))
            self._ids = _grown(self._ids, new, self._rows)
            self._niks = _grown(self._niks, new, self._rows)
            self._alive = _grown(self._alive, new, self._rows)
        self._ids[self._rows : end] = ids
        self._niks[self._rows : end] = niks
        self._alive[self._rows : end] = True
        self._index.add_with_ids(vectors, np.arange(self._rows, end, dtype=np.int64))
        self._rows = end
        self._live += count

    def remove(self, ids) -> int:
        """Drop templates by id; return how many were present."""
        ids = np.asarray(list(ids), dtype=np.int64)
        if ids.size == 0 or self._rows == 0:
            return 0
        rows = np.flatnonzero(np.isin(self._ids[: self._rows], ids) & self._alive[: self._rows])
        if rows.size:
            self._alive[rows] = False
            self._index.remove_ids(self._faiss.IDSelectorBatch(rows.astype(np.int64)))
            self._live -= int(rows.size)
        return int(rows.size)

    def search(
        self, query, k: int, threshold: float, exclude_nik: str | None = None, below_id: int | None = None
    ) -> list[tuple[int, str, float]]:
        """Return up to ``k`` candidates (template_id, nik, approximate distance), nearest first.

        Candidates lie within ``threshold + margin`` by the approximate distance: the caller keeps
        those whose exact distance is within ``threshold``.
        """
        if self._live == 0 or k <= 0:
            return []
        q = as_template(query).reshape(1, DIMENSION)
        # Over-fetch: the applicant's own earlier templates and newer claims are filtered out below.
        squared, rows = self._index.search(q, 4 * k + 16)
        limit = (threshold + self.margin) ** 2
        skip = nik_number(exclude_nik) if exclude_nik is not None else None
        found: list[tuple[int, str, float]] = []
        for distance, row in zip(squared[0].tolist(), rows[0].tolist(), strict=True):
            if row < 0 or distance > limit or len(found) == k:
                break
            if not self._alive[row] or self._niks[row] == skip or (below_id is not None and self._ids[row] >= below_id):
                continue
            found.append((int(self._ids[row]), f"{int(self._niks[row]):016d}", float(np.sqrt(max(distance, 0.0)))))
        return found

    def live_ids(self) -> np.ndarray:
        """Return the ids of the live templates."""
        return self._ids[: self._rows][self._alive[: self._rows]].copy()

    def state(self) -> dict:
        """Return the index as arrays (for a snapshot file); ``restore`` takes them back."""
        rows = self._rows
        return {
            "ann": self._faiss.serialize_index(self._index),
            "ann_ids": self._ids[:rows].copy(),
            "ann_niks": self._niks[:rows].copy(),
            "ann_alive": self._alive[:rows].copy(),
            "ann_meta": np.array([self.nlist, self.nprobe], dtype=np.int64),
        }

    @classmethod
    def restore(cls, arrays: dict) -> AnnMatrix:
        """Rebuild an index written by ``state``."""
        import faiss

        self = cls.__new__(cls)
        self._faiss = faiss
        # faiss hands back the stored index as its own class: the one __init__ built.
        self._index = cast(
            faiss.IndexIVFScalarQuantizer, faiss.deserialize_index(np.ascontiguousarray(arrays["ann"], dtype=np.uint8))
        )
        self.nlist, self.nprobe = (int(x) for x in arrays["ann_meta"].tolist())
        self._index.nprobe = self.nprobe
        self._quantizer = None
        self._ids = np.asarray(arrays["ann_ids"], dtype=np.int64).copy()
        self._niks = np.asarray(arrays["ann_niks"], dtype=np.int64).copy()
        self._alive = np.asarray(arrays["ann_alive"], dtype=bool).copy()
        self._rows = len(self._ids)
        self._live = int(self._alive.sum())
        if self._index.ntotal != self._live:
            raise ValueError("the approximate index does not agree with its ids")
        return self

    def nbytes(self) -> int:
        """Return the memory held, roughly: quantised vectors, ids and cell centroids."""
        return self._index.ntotal * (DIMENSION + 8) + self._rows * 17 + self.nlist * DIMENSION * 4


def _grown(array: np.ndarray, rows: int, used: int) -> np.ndarray:
    grown = np.empty((rows,) + array.shape[1:], dtype=array.dtype)
    grown[:used] = array[:used]
    return grown


def nik_number(nik) -> int:
    text = str(nik)
    if not _NIK.match(text):
        raise ValueError("nik must be 16 digits")
    return int(text)
