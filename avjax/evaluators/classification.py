"""Classification on top of a (finetuned or frozen) encoder: multi-clip top-1 and linear classifiers.

Downstream protocols of CrissCross (methods/crisscross.md, section 6):

- `video_level`: average the clip-level scores of each video (recording) and keep its label: the
  multi-clip test (10 clips per UCF101 / HMDB51 video, softmax averaged; 10 clips per ESC-50
  recording, SVM scores averaged; 60 per DCASE recording).
- `linear_svm`: sklearn `LinearSVC` (the ESC-50 classifier, `audio_svm.py`), decision scores.
- `softmax_classifier`: one linear layer fitted by mini-batch Adam with L2 weight decay and
  dropout on its input (the DCASE classifier, `audio_fctune.py`), test accuracy after every epoch.

    scores: [N, C] float (clip level); index: [N] int (the video / recording of each clip);
    labels: [N] int.
"""
from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def video_level(scores: np.ndarray, index: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip scores [N, C] -> (mean score per video [V, C], label per video [V]), videos in index order."""
    videos, inverse = np.unique(np.asarray(index), return_inverse=True)
    sums = np.zeros((len(videos), scores.shape[1]), np.float64)
    np.add.at(sums, inverse, scores)
    counts = np.bincount(inverse, minlength=len(videos))[:, None]
    video_labels = np.zeros(len(videos), np.int64)
    video_labels[inverse] = labels
    return sums / counts, video_labels


def top1(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, -1) == np.asarray(labels)))


def multiclip_top1(scores: np.ndarray, index: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 of the per-video average of the clip scores."""
    return top1(*video_level(scores, index, labels))


def linear_svm(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, C: float,
               num_classes: int | None = None, max_iter: int = 1000) -> tuple[np.ndarray, dict]:
    """sklearn LinearSVC (one-vs-rest, squared hinge, as the reference) -> (test decision scores
    [M, num_classes], -inf for a class absent from train_y; {"converged": bool})."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        svm = LinearSVC(C=C, max_iter=max_iter).fit(train_x, train_y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    scores = svm.decision_function(test_x)
    if scores.ndim == 1:  # two classes: one score for classes_[1]
        scores = np.stack([-scores, scores], -1)
    full = np.full((len(test_x), num_classes or int(train_y.max()) + 1), -np.inf)
    full[:, svm.classes_] = scores
    return full, {"converged": converged}


@functools.partial(jax.jit, static_argnames=("num_classes", "epochs", "batch_size", "dropout"))
def _fit_softmax(x, y, test_x, key, *, num_classes: int, epochs: int, batch_size: int, lr: float,
                 weight_decay: float, dropout: float):
    """Mini-batch Adam on a linear layer; returns the test logits after every epoch [E, M, C]."""
    n, d = x.shape
    bound = 1.0 / np.sqrt(d)  # PyTorch nn.Linear init
    k_w, k_b, key = jax.random.split(key, 3)
    params = (jax.random.uniform(k_w, (d, num_classes), jnp.float32, -bound, bound),
              jax.random.uniform(k_b, (num_classes,), jnp.float32, -bound, bound))
    # PyTorch Adam(weight_decay): the L2 term is added to the gradient, on all parameters.
    tx = optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(lr))
    opt = tx.init(params)
    num_batches = -(-n // batch_size)

    def loss_fn(params, xb, yb, wb, k):
        w, b = params
        keep = jax.random.bernoulli(k, 1.0 - dropout, xb.shape)
        xb = jnp.where(keep, xb / (1.0 - dropout), 0.0) if dropout > 0 else xb
        ce = optax.softmax_cross_entropy_with_integer_labels(xb @ w + b, yb)
        return jnp.sum(ce * wb) / jnp.maximum(jnp.sum(wb), 1.0)

    def epoch(carry, k):
        params, opt = carry
        k_perm, k_drop = jax.random.split(k)
        order = jax.random.permutation(k_perm, n)
        order = jnp.concatenate([order, jnp.zeros(num_batches * batch_size - n, order.dtype)])
        weight = (jnp.arange(num_batches * batch_size) < n).astype(jnp.float32)  # the last batch is short

        def step(carry, i):
            params, opt = carry
            idx = jax.lax.dynamic_slice_in_dim(order, i * batch_size, batch_size)
            wb = jax.lax.dynamic_slice_in_dim(weight, i * batch_size, batch_size)
            grads = jax.grad(loss_fn)(params, x[idx], y[idx], wb, jax.random.fold_in(k_drop, i))
            updates, opt = tx.update(grads, opt, params)
            return (optax.apply_updates(params, updates), opt), None

        (params, opt), _ = jax.lax.scan(step, (params, opt), jnp.arange(num_batches))
        w, b = params
        return (params, opt), test_x @ w + b

    _, test_logits = jax.lax.scan(epoch, (params, opt), jax.random.split(key, epochs))
    return test_logits


def softmax_classifier(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                       test_index: np.ndarray, num_classes: int, *, epochs: int = 200, batch_size: int = 512,
                       lr: float = 7e-3, weight_decay: float = 1e-5, dropout: float = 0.1,
                       seed: int = 0) -> dict[str, float]:
    """A linear layer on frozen features (DCASE: Adam, fixed lr 7e-3, wd 1e-5, 200 epochs, batch
    512, dropout 0.1 on the input). Test predictions are softmax-averaged per recording.

    Returns {"top1": after the last epoch, "top1_best_epoch": the best epoch on the test set (what
    the reference reports: model selection on the test split), "best_epoch": 1-based}.
    """
    logits = _fit_softmax(jnp.asarray(train_x, jnp.float32), jnp.asarray(train_y, jnp.int32),
                          jnp.asarray(test_x, jnp.float32), jax.random.key(seed), num_classes=num_classes,
                          epochs=epochs, batch_size=min(batch_size, len(train_x)), lr=lr,
                          weight_decay=weight_decay, dropout=dropout)
    per_epoch = [multiclip_top1(softmax(np.asarray(e, np.float64)), test_index, test_y)
                 for e in np.asarray(logits)]
    best = int(np.argmax(per_epoch))
    return {"top1": per_epoch[-1], "top1_best_epoch": per_epoch[best], "best_epoch": best + 1}
