"""ECO: the parsimonious black-box attack (Moon et al. 2019, "Parsimonious black-box adversarial attacks via
efficient combinatorial optimization"), as the original code ran it (spec section 3.3, paper Appendix F.1).

Every image runs its own exact copy of the sequential algorithm (per-image numpy bookkeeping and RNG,
``np.random.RandomState(seed + i)`` as the original's ``np.random.seed(index)``); the candidates that all
running images want evaluated are gathered into one batched, compiled model call. Each image's query count is
the number of its candidate images the model evaluated, the initial-loss and success checks included (with
``early_stop``, a successful chunk only up to its first success, as the original counts), and it never exceeds
``max_queries``.
"""

from __future__ import annotations

import functools
import heapq
import math

import numpy as np
import tensorflow as tf

from attacks.base import AttackResult, Progress, check_eps, check_positive_int, identity_result, prepare

CHUNK = 100  # candidates per evaluation in the lazy-greedy insertion/deletion (the original's batch_size)


class _BudgetExhausted(Exception):
    """The next evaluation would take the image past ``max_queries``."""


@functools.lru_cache(maxsize=64)
def split_blocks(shape: tuple[int, ...], block_size: int) -> tuple[tuple[int, int, int], ...]:
    """Blocks (row, col, channel) of side ``block_size`` on a stride-``block_size`` grid, one per channel."""
    h, w, c = shape
    return tuple((r, s, ch) for r in range(0, h, block_size) for s in range(0, w, block_size) for ch in range(c))


class _EcoImage:
    """The parsimonious attack on one image, as a generator: yields the signs of candidate perturbations
    (int8 [k,H,W,C] in {-1, +1}; the candidate image is clip(x + eps * sign, 0, 1)) and receives
    (losses [k], misclassified [k]) back. Loss = -CE(logits, y), minimised."""

    def __init__(self, x, eps, rng, block_size, batch_size, max_queries, early_stop, py2_floor_div):
        self.x, self.eps, self.rng = x, eps, rng
        self.block_size, self.batch_size, self.max_queries = block_size, batch_size, max_queries
        self.early_stop, self.py2_floor_div = early_stop, py2_floor_div
        self.sign = -np.ones(x.shape, np.int8)  # noise = eps * sign, starts at -eps everywhere
        self.queries = 0
        self.local_searches = 0
        self.success = False
        self.budget_exhausted = False

    def _ndiv(self, a: int, b: int) -> int:
        return a // b if self.py2_floor_div else math.ceil(a / b)

    def _image(self, sign: np.ndarray) -> np.ndarray:
        return np.clip(self.x + np.float32(self.eps) * sign.astype(np.float32), 0.0, 1.0)

    def _flip(self, sign: np.ndarray, block) -> None:
        """Flip one block of ``sign`` [H,W,C] in place."""
        r, s, c = block
        view = sign[r:r + self.block, s:s + self.block, c]
        np.negative(view, out=view)

    def _candidates(self, blocks, idxs) -> np.ndarray:
        """The current sign with one block flipped, for each block index of ``idxs``: int8 [k,H,W,C]."""
        signs = np.repeat(self.sign[None], len(idxs), axis=0)
        for j, i in enumerate(idxs):
            self._flip(signs[j], blocks[i])
        return signs

    def _query(self, signs: np.ndarray):
        if self.queries + len(signs) > self.max_queries:
            raise _BudgetExhausted
        self.queries += len(signs)
        return (yield signs)

    def _query_until_success(self, signs: np.ndarray):
        """Early-stopping chunk: charged up to and including its first misclassified candidate, else whole.

        A sequential attacker stops at that candidate (the original's ``queries += position + 1``); the batched
        call evaluates the chunk at once, but never past the budget: a chunk larger than the budget left is cut
        to it, and if the cut part holds no success the budget is spent (the original would have charged the
        whole chunk and gone over).
        """
        room = self.max_queries - self.queries
        if room <= 0:
            raise _BudgetExhausted
        losses, wrong = yield signs[:room]
        if wrong.any():
            self.queries += int(np.argmax(wrong)) + 1
            return losses, wrong
        self.queries += len(losses)
        if len(losses) < len(signs):
            raise _BudgetExhausted
        return losses, wrong

    def _lazy_greedy(self, blocks, candidates, cur, in_set, insert):
        """One lazy-greedy phase over ``candidates`` (block indices); returns (cur, success)."""
        heap = []
        for ib in range(self._ndiv(len(candidates), CHUNK)):
            idxs = candidates[ib * CHUNK:(ib + 1) * CHUNK]
            signs = self._candidates(blocks, idxs)
            if insert and self.early_stop:
                losses, wrong = yield from self._query_until_success(signs)
            else:
                losses, wrong = yield from self._query(signs)
            if insert and self.early_stop and wrong.any():
                j = int(np.argmax(wrong))
                self.sign = signs[j].copy()
                return float(losses[j]), True
            for loss, i in zip(losses, idxs):
                heapq.heappush(heap, (float(loss) - cur, int(i)))
        if heap:  # the best candidate is accepted unconditionally
            margin, i = heapq.heappop(heap)
            cur += margin
            self._flip(self.sign, blocks[i])
            in_set[i] = insert
        while heap:
            _, i = heapq.heappop(heap)
            losses, _ = yield from self._query(self._candidates(blocks, [i]))
            margin = float(losses[0]) - cur
            if not heap or margin <= heap[0][0]:
                if margin > 0:
                    break
                cur = float(losses[0])
                self._flip(self.sign, blocks[i])
                in_set[i] = insert
            else:
                heapq.heappush(heap, (margin, i))
        return cur, False

    def _local_search(self, blocks):
        """Insertion then deletion on one mini-batch of blocks; returns success."""
        in_set = np.array([self.sign[r, s, c] > 0 for r, s, c in blocks])
        losses, _ = yield from self._query(self.sign[None])
        cur = float(losses[0])
        cur, success = yield from self._lazy_greedy(blocks, np.flatnonzero(~in_set), cur, in_set, True)
        if success:
            return True
        yield from self._lazy_greedy(blocks, np.flatnonzero(in_set), cur, in_set, False)
        return False

    def run(self):
        """Generator; its return value is the adversarial image [H,W,C]."""
        adv = self.x.copy()
        self.block = self.block_size
        blocks = split_blocks(self.x.shape, self.block)
        order = self.rng.permutation(len(blocks))
        while True:
            spent_before_pass = self.queries
            for ib in range(self._ndiv(len(blocks), self.batch_size)):
                batch = [blocks[k] for k in order[ib * self.batch_size:(ib + 1) * self.batch_size]]
                try:
                    success = yield from self._local_search(batch)
                except _BudgetExhausted:  # the image from before this mini-batch
                    self.budget_exhausted = True
                    return adv
                self.local_searches += 1
                adv = self._image(self.sign)
                if success:
                    self.success = True
                    return adv
            if self.block >= 2:
                self.block //= 2
                blocks = split_blocks(self.x.shape, self.block)
            elif self.queries == spent_before_pass:  # py2 floor division left nothing to visit: stop
                return adv
            order = self.rng.permutation(len(blocks))


def eco(model, x, y=None, *, eps: float, max_queries: int = 20000, block_size: int = 2, batch_size: int = 256,
        early_stop: bool = False, py2_floor_div: bool = False, eval_batch: int = 4096, seed: int | None = 0,
        verbose: bool = False) -> AttackResult:
    """ECO / parsimonious attack (Moon et al. 2019), untargeted, l-inf; runs a whole batch of images at once.

    Perturbation in {-eps, +eps}^d (start -eps), image clip(x + eta, 0, 1); blocks of side ``block_size`` per
    channel, visited in mini-batches of ``batch_size`` blocks in random order; on each mini-batch one lazy-greedy
    insertion (flip to +eps, candidates evaluated by chunks of 100, best accepted unconditionally) then one
    lazy-greedy deletion; after each full pass the block size halves (down to 1, then only reshuffles).
    The loss is -CE(logits, y) (minimised). Stops on the budget (returning the image from before the mini-batch
    that would exceed it) or, with ``early_stop``, on the first misclassified insertion candidate.
    Paper Appendix F.1: 20,000 queries, no early stopping, block size 2 / 8 / 4 on MNIST / SVHN / CIFAR10;
    original code: batch_size 256 / 256 / 512, early stop on (``early_stop=True``), Python-2 floor divisions
    that skip partial mini-batches and chunks (``py2_floor_div=True``; the default is Moon et al.'s ceil).
    Query accounting as the original: an early-stopping chunk is charged up to its first misclassified
    candidate (position + 1), although the batched model call evaluated the whole chunk (so a counting model
    sees more images than ``queries`` with ``early_stop``); such a chunk is cut to the budget left.

    model: Keras model or callable returning logits. x: float32 [N,H,W,C] in [0,1]. y: int [N] or None (model's
    predictions). eps: l-inf budget in [0,1]. max_queries: hard per-image budget (>= 1). block_size: initial
    block side. batch_size: blocks per mini-batch. early_stop, py2_floor_div: see above. eval_batch: max
    images per model call. seed: image i uses np.random.RandomState(seed + i) (None: OS entropy).
    verbose: progress line every ~10% of the total budget on stderr.
    extra: ``queries_per_image`` [N], ``success`` [N] (early-stop success), ``budget_exhausted`` [N].
    """
    eps = check_eps(eps)
    max_queries = check_positive_int(max_queries, "max_queries")
    block_size = check_positive_int(block_size, "block_size")
    batch_size = check_positive_int(batch_size, "batch_size")
    eval_batch = check_positive_int(eval_batch, "eval_batch")
    fn, xt, yt, q = prepare(model, x, y)
    if xt.shape.rank != 4:
        raise ValueError(f"ECO needs image batches [N,H,W,C], got shape {tuple(xt.shape)}")
    if eps == 0:
        return identity_result(xt, q, queries_per_image=np.zeros(len(xt), np.int64))
    x_np, y_np = xt.numpy(), yt.numpy()

    x_all, eps32 = tf.constant(x_np), tf.constant(eps, tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None, *x_np.shape[1:]], tf.int8), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([None], tf.int64)])
    def oracle(signs, owner, labels):
        """Candidates clip(x[owner] + eps * sign, 0, 1) (built here, not in numpy): (losses, misclassified)."""
        images = tf.clip_by_value(tf.gather(x_all, owner) + eps32 * tf.cast(signs, tf.float32), 0.0, 1.0)
        logits = fn(images)
        loss = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)
        return loss, tf.argmax(logits, axis=1) != labels

    oracle_fn = oracle.get_concrete_function()  # called with tensors: less per-call overhead

    runs = [_EcoImage(x_np[i], eps, np.random.RandomState(None if seed is None else seed + i), block_size,
                      batch_size, max_queries, early_stop, py2_floor_div) for i in range(len(x_np))]
    out = x_np.copy()
    gens, pending = {}, {}

    def advance(i, reply):
        try:
            pending[i] = gens[i].send(reply)
        except StopIteration as stop:
            out[i] = stop.value
            pending.pop(i, None)

    for i, r in enumerate(runs):
        gens[i] = r.run()
        advance(i, None)
    progress = Progress("eco", len(runs) * max_queries, "queries", verbose)
    while pending:
        ids = list(pending)
        sizes = [len(pending[i]) for i in ids]
        signs = np.concatenate([pending[i] for i in ids])
        owner = np.repeat(np.array(ids, np.int32), sizes)
        labels = y_np[owner]
        losses, wrong = [], []
        for s in range(0, len(signs), eval_batch):
            loss, w = oracle_fn(tf.constant(signs[s:s + eval_batch]), tf.constant(owner[s:s + eval_batch]),
                                tf.constant(labels[s:s + eval_batch]))
            losses.append(loss.numpy())
            wrong.append(w.numpy())
        losses, wrong = np.concatenate(losses), np.concatenate(wrong)
        bounds = np.cumsum([0, *sizes])
        for k, i in enumerate(ids):
            advance(i, (losses[bounds[k]:bounds[k + 1]], wrong[bounds[k]:bounds[k + 1]]))
        progress.update(sum(r.queries for r in runs))
    per_image = np.array([r.queries for r in runs], np.int64)
    extra = {"queries_per_image": per_image, "success": np.array([r.success for r in runs]),
             "budget_exhausted": np.array([r.budget_exhausted for r in runs])}
    return AttackResult(out.astype(np.float32), max(r.local_searches for r in runs), q + int(per_image.sum()), extra)
