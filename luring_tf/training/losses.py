"""The label-free losses that train the component P against a frozen classifier M.

Both take ``m_logits`` = logits of M(x) (constants: no gradient reaches M) and ``z`` = logits of
M∘P(x), float32 [B, K].
"""

from __future__ import annotations

import tensorflow as tf


def luring_loss(m_logits: tf.Tensor, z: tf.Tensor, luring_coefficient: float):
    """Equation 2 of the paper, as the original code computes it (spec ``original-code.md``).

    With α = argmax of M's logits and a = M's second class (argsort of M's logits, the port's
    choice where the code ranks M's softmax: identical except ties), and b = the highest class of
    M∘P other than α (computed per example, the code's reading of "2nd max of h_{M∘P}")::

        L = mean(max(0, z_b - z_α)) + λ · mean(-(z_α - z_a))

    The hinge keeps α first for M∘P (prediction neutrality); the gap term pushes M∘P's logit of α
    away from its logit of M's runner-up a (the luring effect). No label is used.

    Returns ``(total, hinge, gap)`` where ``gap = mean(-(z_α - z_a))`` (unweighted).
    """
    m_logits = tf.stop_gradient(tf.convert_to_tensor(m_logits, tf.float32))
    z = tf.convert_to_tensor(z, tf.float32)
    order = tf.argsort(m_logits, axis=-1, direction="DESCENDING", stable=True)
    alpha, runner_up = order[:, 0], order[:, 1]
    z_alpha = tf.gather(z, alpha, batch_dims=1)
    z_a = tf.gather(z, runner_up, batch_dims=1)
    is_alpha = tf.one_hot(alpha, tf.shape(z)[-1], on_value=True, off_value=False)
    z_b = tf.reduce_max(tf.where(is_alpha, tf.constant(-1e30, z.dtype), z), axis=-1)
    hinge = tf.reduce_mean(tf.nn.relu(z_b - z_alpha))
    gap = tf.reduce_mean(-(z_alpha - z_a))
    return hinge + luring_coefficient * gap, hinge, gap


def mimic_cross_entropy(m_logits: tf.Tensor, z: tf.Tensor) -> tf.Tensor:
    """C-E approach: cross-entropy between M's softmax (soft targets) and softmax(z), batch mean."""
    target = tf.nn.softmax(tf.stop_gradient(tf.convert_to_tensor(m_logits, tf.float32)))
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=z))
