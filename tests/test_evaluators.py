"""Linear probe, kNN and retrieval on features with known answers."""
import numpy as np

from avjax.evaluators import knn, linear_probe, retrieval


def blobs(n_per_class, num_classes, dim, noise, seed):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(num_classes, dim)) * 3
    y = np.repeat(np.arange(num_classes), n_per_class)
    return centres[y] + noise * rng.normal(size=(len(y), dim)), y


def test_linear_probe_separable_and_random():
    x, y = blobs(40, 5, 16, 1.0, 0)
    xt, yt = blobs(20, 5, 16, 1.0, 0)  # same centres (same seed), new draws of the noise below
    xt = xt + np.random.default_rng(1).normal(size=xt.shape)
    assert linear_probe.linear_probe(x, y, xt, yt, 5) > 0.95
    rng = np.random.default_rng(2)
    acc = linear_probe.linear_probe(rng.normal(size=(200, 16)), rng.integers(0, 5, 200),
                                    rng.normal(size=(200, 16)), rng.integers(0, 5, 200), 5)
    assert acc < 0.4  # chance is 0.2


def test_knn_on_blobs():
    x, y = blobs(30, 4, 8, 0.5, 3)
    assert knn.knn_accuracy(x, y, x + 0.01, y, 4, k=5) == 1.0


def test_retrieval_ranks_and_recalls():
    q = np.eye(4)
    g = np.eye(4)
    g[2:, 2:] = [[0.6, 0.8], [0.8, 0.6]]  # queries 2 and 3 each find the other's item first
    np.testing.assert_array_equal(retrieval.ranks(q, g), [0, 0, 1, 1])
    assert retrieval.recall_at_k(q, g, ks=(1, 2)) == {"r1": 0.5, "r2": 1.0}
    # Ties count against the query: a constant gallery ranks the answer last.
    np.testing.assert_array_equal(retrieval.ranks(q, np.ones((4, 4))), [3, 3, 3, 3])
    assert retrieval.chance_recall(100) == {"r1": 0.01, "r5": 0.05, "r10": 0.1}


def test_within_class_ranks_only_count_the_same_class():
    # Query 0 (class 0) is closest to gallery 2 (class 1), then its own pair 0, then 1 (class 0).
    g = np.eye(3)
    q = np.array([[0.5, 0.1, 1.0], [0.0, 1.0, 0.2], [0.0, 0.0, 1.0]])
    labels = np.array([0, 0, 1])
    np.testing.assert_array_equal(retrieval.ranks(q, g), [1, 0, 0])
    np.testing.assert_array_equal(retrieval.ranks(q, g, labels), [0, 0, 0])
    q[0] = [0.1, 0.5, 1.0]  # now class-mate 1 outranks the pair; class-1 item 2 still does not count
    np.testing.assert_array_equal(retrieval.ranks(q, g, labels), [1, 0, 0])
    assert retrieval.recalls(q, g, labels, ks=(1,), within_k=1)["r1_within_class"] == 2 / 3
    # One similarity matrix for both: query 0's pair ranks 3rd overall, 2nd within its class.
    assert retrieval.recalls(q, g, labels, ks=(2,), within_k=2) == {"r2": 2 / 3, "r2_within_class": 1.0}
    # Chance: classes of 2, 2 and 6 items -> (1/2 * 4 + 1/6 * 6) / 10 at k = 1.
    assert np.isclose(retrieval.chance_within_class_recall(np.array([0, 0, 1, 1] + [2] * 6), k=1), 0.3)
