"""Cross-modal retrieval: Recall@K of the paired item, by cosine similarity.

Query i's correct answer is gallery item i (e.g. the audio and the video of the same clip).
Ties are broken pessimistically (a gallery item with the same score as the answer ranks first).
"""
from __future__ import annotations

import numpy as np


def similarities(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """query [N, D], gallery [M, D] -> cosine similarities [N, M] (float64)."""
    q = query / np.maximum(np.linalg.norm(query, axis=1, keepdims=True), 1e-12)
    g = gallery / np.maximum(np.linalg.norm(gallery, axis=1, keepdims=True), 1e-12)
    return q.astype(np.float64) @ g.astype(np.float64).T


def ranks_from(sims: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """sims [N, N] (query i's answer is gallery i) -> [N] zero-based rank of each answer.

    labels: [N] class of each pair; if given, only the gallery items of the query's class compete
    (instance retrieval within the class: what is left once the class is right)."""
    if labels is not None:
        labels = np.asarray(labels)
        sims = np.where(labels[:, None] == labels[None, :], sims, -np.inf)
    correct = np.diag(sims)[:, None]
    return np.sum(sims >= correct, axis=1) - 1


def ranks(query: np.ndarray, gallery: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """query, gallery: [N, D] -> [N] zero-based rank of the paired gallery item (see `ranks_from`)."""
    return ranks_from(similarities(query, gallery), labels)


def recalls(query: np.ndarray, gallery: np.ndarray, labels: np.ndarray, ks=(1, 5, 10),
            within_k: int = 5) -> dict[str, float]:
    """`recall_at_k` and, from the same similarity matrix, Recall@within_k among the gallery items of
    the query's class only (key f"r{within_k}_within_class")."""
    sims = similarities(query, gallery)
    r, r_in = ranks_from(sims), ranks_from(sims, labels)
    return {**{f"r{k}": float(np.mean(r < k)) for k in ks},
            f"r{within_k}_within_class": float(np.mean(r_in < within_k))}


def recall_at_k(query: np.ndarray, gallery: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    r = ranks(query, gallery)
    return {f"r{k}": float(np.mean(r < k)) for k in ks}


def chance_recall(n: int, ks=(1, 5, 10)) -> dict[str, float]:
    """Expected Recall@K of a random ranking of n items."""
    return {f"r{k}": min(k, n) / n for k in ks}


def chance_within_class_recall(labels: np.ndarray, k: int = 5) -> float:
    """Expected within-class recall (`recalls`) of a random ranking: mean over queries of min(k, n_c) / n_c."""
    labels = np.asarray(labels)
    n = np.bincount(labels)[labels]
    return float(np.mean(np.minimum(k, n) / n))
