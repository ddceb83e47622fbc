"""Face templates in one float32 matrix, searched by vectorised Euclidean distance (used by face_index)."""
from __future__ import annotations

import re
from typing import Iterable

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
        niks = np.asarray([nik_number(n) for n in niks] if not isinstance(niks, np.ndarray) else niks,
                          dtype=np.int64)
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(ids), DIMENSION)
        if self._rows and ids.min() <= self._ids[: self._rows].max():
            # Only late-committed rows arrive out of order; they are few, so the scan is cheap.
            fresh = ~np.isin(ids, self._ids[: self._rows])
            ids, niks, vectors = ids[fresh], niks[fresh], vectors[fresh]
        count = len(ids)
        self._reserve(self._rows + count)
        end = self._rows + count
        self._vectors[self._rows:end] = vectors
        self._norms[self._rows:end] = np.einsum("ij,ij->i", vectors, vectors)
        self._ids[self._rows:end] = ids
        self._niks[self._rows:end] = niks
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

    def search(self, query, k: int, threshold: float, exclude_nik: str | None = None) -> list[tuple[int, str, float]]:
        """Return up to ``k`` (template_id, nik, distance) within ``threshold``, nearest first."""
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
        # The expanded form loses a little precision in float32: widen the net, then measure exactly.
        limit = (threshold + 1e-3) ** 2
        near = np.flatnonzero(squared <= limit)
        if near.size > 4 * k:
            near = near[np.argpartition(squared[near], 4 * k)[: 4 * k]]
        exact = np.linalg.norm(self._vectors[near].astype(np.float64) - q.astype(np.float64), axis=1)
        order = np.argsort(exact, kind="stable")
        found = []
        for i in order:
            if exact[i] > threshold or len(found) == k:
                break
            row = near[i]
            found.append((int(self._ids[row]), f"{int(self._niks[row]):016d}", float(exact[i])))
        return found

    def live_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return copies of (ids, niks, vectors) of the live templates, for a snapshot."""
        keep = np.isfinite(self._norms[: self._rows])
        return self._ids[: self._rows][keep].copy(), self._niks[: self._rows][keep].copy(), \
            self._vectors[: self._rows][keep].copy()

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


def _grown(array: np.ndarray, rows: int, used: int) -> np.ndarray:
    grown = np.empty((rows,) + array.shape[1:], dtype=array.dtype)
    grown[:used] = array[:used]
    return grown


def nik_number(nik) -> int:
    text = str(nik)
    if not _NIK.match(text):
        raise ValueError("nik must be 16 digits")
    return int(text)
