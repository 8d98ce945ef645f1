"""Adversarial training of M (Madry et al. 2018), the defense stacked with luring in the paper's Appendix H.2.

:class:`AdversarialTrainer` is a ``keras.Model`` that *holds* the plain classifier M and overrides
``train_step``: each batch is replaced by its PGD-ℓ∞ adversarial version (random start in the
ε-ball, ``nb_iter`` steps of ``eps_iter`` along the sign of the gradient of the cross-entropy,
projection onto the ε-ball and clipping to [0, 1]) computed *inside* the compiled step (one ``tf.while_loop`` in the graph, no Python loop per
example or per iteration), then M takes one optimizer step on the cross-entropy of the adversarial batch.
Validation (``test_step``) scores M on the PGD versions of the validation images at the full ε
(fixed random start), so the epoch :func:`luring_tf.training.trainers.train_classifier` keeps
(best ``val_accuracy``) is the most *robust* one -- on clean accuracy the selection would favour
the least robust epochs (those of the ε warm-up). train_classifier keeps its seeding, divergence
guard and learning-rate fallback: it receives
:func:`adversarial_wrap` as its ``wrap`` hook and trains M through the trainer. The trainer is
never saved: M is written as a plain-Keras ``.h5`` like any M.

Paper values (App. H.2; ``train.advtrain`` in ``luring_tf/configs/*.yaml``): MNIST ε = 0.3, 40 steps of 0.1
(as the paper writes; Madry et al. used steps of 0.01 -- ``eps_iter`` is a config value); SVHN and
CIFAR10 ε = 0.03, 10 steps of 0.008. The paper does not say how long M was trained.

Port choices: the inner PGD runs M in inference mode (``training=False``: no dropout, BatchNorm's
moving statistics) and starts from a uniform draw in the ε-ball keyed by (seed, optimizer step),
so the same seed gives the same adversarial batches; the training batch is 100 % adversarial
(Madry et al.'s recipe, no clean half).

ε warm-up (``eps_warmup_epochs``, default 0 = the paper's constant ε): ε and the step grow linearly
from 0 to their values over the first epochs. A departure used by the quick MNIST profile: from
scratch at ε = 0.3 on a few thousand digits and a few epochs, M stayed at chance (loss ln 10, the
known stall of Madry training at the start); with the warm-up it learns.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from luring_tf.storage.models_io import logits_view

PGD_KEYS = ("eps", "eps_iter", "nb_iter")


def pgd_linf(logits_fn, x: tf.Tensor, y: tf.Tensor, eps: float, eps_iter: float, nb_iter: int,
             seed: tf.Tensor, rand_init: bool = True) -> tf.Tensor:
    """Untargeted PGD-ℓ∞ on the cross-entropy of ``logits_fn`` (graph-friendly, no Python loop).

    ``x``: float32 [N,H,W,C] in [0,1]; ``y``: int [N] true labels; ``seed``: int64 [2] of the
    stateless random start (uniform in [-eps, eps] per component when ``rand_init``). Every
    iterate is projected onto the ε-ball around ``x`` and clipped to [0,1]. Returns float32
    [N,H,W,C], stopped gradient.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    y = tf.cast(tf.reshape(y, [-1]), tf.int64)
    eps, eps_iter = tf.cast(eps, tf.float32), tf.cast(eps_iter, tf.float32)
    if rand_init:
        start = x + tf.random.stateless_uniform(tf.shape(x), seed=seed, minval=-eps, maxval=eps)
    else:
        start = x
    def step(i, x_adv):
        with tf.GradientTape() as tape:
            tape.watch(x_adv)
            loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits_fn(x_adv)))
        x_adv = x_adv + eps_iter * tf.sign(tape.gradient(loss, x_adv))
        return i + 1, tf.clip_by_value(x + tf.clip_by_value(x_adv - x, -eps, eps), 0.0, 1.0)

    # an explicit graph while-loop: Keras compiles train_step without autograph
    _, x_adv = tf.while_loop(lambda i, _: i < int(nb_iter), step, (tf.constant(0), tf.clip_by_value(start, 0.0, 1.0)))
    return tf.stop_gradient(x_adv)


class AdversarialTrainer(keras.Model):
    """Holds a softmax classifier M; ``fit`` trains M on PGD adversarial batches (see module docstring).

    ``compile`` as for M itself (a loss on M's softmax output, e.g. sparse cross-entropy, and
    metrics): ``loss`` / ``accuracy`` in the logs are on the *adversarial* training batches,
    ``val_*`` on adversarial validation images (full ε). Only M's variables are trained.
    """

    def __init__(self, classifier: keras.Model, eps: float, eps_iter: float, nb_iter: int, seed: int = 0,
                 rand_init: bool = True, warmup_steps: int = 0, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= float(eps) <= 1 or float(eps_iter) <= 0 or int(nb_iter) < 1:
            raise ValueError(f"bad PGD settings eps={eps}, eps_iter={eps_iter}, nb_iter={nb_iter}: "
                             "need eps in [0,1], eps_iter > 0, nb_iter >= 1")
        self.classifier = classifier
        # The inner PGD attacks M as it is at each step: the view must read M's own variables (a fused
        # softmax's too, luring_tf.storage.logits), never a copy made before training. Held in a function so
        # Keras tracks M once.
        view = logits_view(classifier)
        own = {id(v) for v in classifier.weights}
        if any(id(v) not in own for v in view.weights):
            raise RuntimeError(f"the logits view of {classifier.name} holds weights of its own: the inner PGD "
                               "would attack a frozen copy of M")
        self._logits = lambda z: view(z, training=False)
        self.eps, self.eps_iter, self.nb_iter = float(eps), float(eps_iter), int(nb_iter)
        self.seed, self.rand_init = int(seed), bool(rand_init)
        self.warmup_steps = int(warmup_steps)

    def call(self, x, training=False):
        return self.classifier(x, training=training)

    def scale(self, step) -> tf.Tensor:
        """Share of ε in use at optimizer step ``step``: 1, or ``step / warmup_steps`` during the warm-up."""
        if self.warmup_steps <= 0:
            return tf.constant(1.0)
        return tf.minimum(1.0, tf.cast(step + 1, tf.float32) / float(self.warmup_steps))

    def perturb(self, x, y, step=0) -> tf.Tensor:
        """PGD adversarial version of the batch ``(x, y)`` against M; the random start is keyed by (seed, ``step``)."""
        seed = tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64)])
        scale = self.scale(step)
        return pgd_linf(self._logits, x, y, self.eps * scale, self.eps_iter * scale, self.nb_iter,
                        seed, self.rand_init)

    def train_step(self, data):
        """Keras's own step (compiled loss, metrics, optimizer) on the PGD version of the batch."""
        x, y = data
        return super().train_step((self.perturb(x, y, self.optimizer.iterations), y))

    def test_step(self, data):
        """Keras's own evaluation on the PGD version of the batch at the full ε (random start keyed by step -1)."""
        x, y = data
        seed = tf.constant([self.seed, -1], tf.int64)
        x_adv = pgd_linf(self._logits, x, y, self.eps, self.eps_iter, self.nb_iter, seed, self.rand_init)
        return super().test_step((x_adv, y))


def adversarial_wrap(cfg: dict, seed: int = 0, steps_per_epoch: int = 1):
    """The ``wrap`` hook of ``train_classifier`` for the ``train.advtrain`` section ``cfg``.

    ``cfg``: eps, eps_iter, nb_iter, optional rand_init (default true) and eps_warmup_epochs
    (default 0; in epochs of ``steps_per_epoch`` optimizer steps).
    """

    def wrap(classifier: keras.Model) -> AdversarialTrainer:
        return AdversarialTrainer(classifier, cfg["eps"], cfg["eps_iter"], cfg["nb_iter"], seed=seed,
                                  rand_init=cfg.get("rand_init", True),
                                  warmup_steps=round(float(cfg.get("eps_warmup_epochs", 0)) * steps_per_epoch))

    return wrap
