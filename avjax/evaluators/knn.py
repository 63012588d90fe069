"""k-nearest-neighbour classification on frozen features (cosine similarity, weighted vote).

The weighted vote is the one of Wu et al. (2018) used by most self-supervised papers:
each of the k neighbours votes for its class with weight exp(sim / temperature).
"""
from __future__ import annotations

import numpy as np


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 num_classes: int, k: int = 20, temperature: float = 0.07) -> float:
    """train_x: [N, D]; train_y: [N] int; test_x: [M, D]; test_y: [M] int -> top-1 accuracy."""
    sims = _normalize(test_x.astype(np.float64)) @ _normalize(train_x.astype(np.float64)).T  # [M, N]
    k = min(k, train_x.shape[0])
    nn_idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    nn_sim = np.take_along_axis(sims, nn_idx, 1)
    votes = np.zeros((test_x.shape[0], num_classes))
    np.add.at(votes, (np.arange(test_x.shape[0])[:, None], train_y[nn_idx]), np.exp(nn_sim / temperature))
    return float(np.mean(votes.argmax(1) == test_y))
