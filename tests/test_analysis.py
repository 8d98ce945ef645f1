"""luring_tf.analysis on hand-made arrays: distortions, saliency, Ω_c of Equation 5, Table 10."""

import keras
import numpy as np
import pytest

from luring_tf.evaluation import analysis


def test_distortion_statistics_on_hand_made_pairs():
    x = np.zeros((3, 2, 2, 1), dtype=np.float32)
    adv = x.copy()
    adv[0, 0, 0, 0], adv[0, 1, 1, 0] = 0.3, -0.4     # l2 0.5, linf 0.4, l0 2
    adv[1, 0, 1, 0] = 0.6                            # l2 0.6, linf 0.6, l0 1
    adv[2] = 0.9                                     # failed example: must be ignored
    stats = analysis.distortion_statistics(x, adv, np.array([True, True, False]))
    assert stats["n"] == 2 and stats["n_total"] == 3
    assert stats["mean_l2"] == pytest.approx(0.55)
    assert stats["mean_linf"] == pytest.approx(0.5)
    assert stats["mean_l0"] == pytest.approx(1.5)
    assert stats["mean_l0_pixels"] == pytest.approx(1.5)
    assert analysis.distortion_statistics(x, adv, np.zeros(3, bool))["mean_l2"] is None


def test_l0_per_component_and_per_pixel_on_colour_images():
    x = np.zeros((1, 2, 2, 3), dtype=np.float32)
    adv = x.copy()
    adv[0, 0, 0, :] = 0.1        # one pixel, three channels
    adv[0, 1, 0, 2] = 0.001      # below half a grey level
    per = analysis.per_example_distortions(x, adv)
    assert per["l0"][0] == 4 and per["l0_pixels"][0] == 2 and per["l0_visible"][0] == 3
    assert per["l2"][0] == pytest.approx(np.sqrt(3 * 0.01 + 1e-6))


def test_saliency_of_identity_component_is_its_gradient():
    x = np.random.default_rng(0).random((4, 3, 3, 1)).astype(np.float32)
    identity = keras.Sequential([keras.Input((3, 3, 1)), keras.layers.Identity()])
    np.testing.assert_allclose(analysis.saliency_component(identity, x), np.ones_like(x))
    scale = keras.Sequential([keras.Input((3, 3, 1)), keras.layers.Rescaling(2.0)])
    np.testing.assert_allclose(analysis.saliency_component(scale, x, batch_size=3), 2 * np.ones_like(x))


def test_saliency_of_loss_matches_softmax_gradient():
    # M(x) = softmax(W x) on 2 inputs, 2 classes: dCE/dx = W^T (softmax - onehot).
    w = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)  # [in, out]
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, use_bias=False), keras.layers.Softmax()])
    model.layers[0].set_weights([w])
    x = np.array([[0.2, 0.7], [0.9, 0.1]], dtype=np.float32)
    y = np.array([0, 1])
    z = x @ w
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    expected = (p - np.eye(2)[y]) @ w.T
    np.testing.assert_allclose(analysis.saliency_loss(model, x, y), expected, rtol=1e-5, atol=1e-6)


def _linear(weights):
    model = keras.Sequential([keras.Input((weights.shape[0],)), keras.layers.Dense(weights.shape[1], use_bias=False)])
    model.layers[0].set_weights([np.asarray(weights, dtype=np.float32)])
    return model


def test_omega_on_tiny_linear_models_counts_sign_flips_by_hand():
    # M: logits = x @ W (3 inputs, 2 classes), so dM_c/dx_d = W[d, c].
    w = np.array([[1.0, -1.0], [2.0, 0.5], [-1.0, 1.0]])
    # P: x -> x * s (per-component scale), so d(M∘P)_c/dx_d = s_d * W[d, c].
    s = np.array([-1.0, 1.0, -2.0])
    m = _linear(w)
    t = _linear(w * s[:, None])
    x = np.random.default_rng(1).random((5, 3)).astype(np.float32)
    jm, jt = analysis.logit_jacobian(m, x), analysis.logit_jacobian(t, x, batch_size=2)
    assert jm.shape == (5, 2, 3)
    np.testing.assert_allclose(jm[0], w.T)
    om = analysis.omega(jm, jt)
    # Both classes flip at components 0 and 2 (s < 0) and not at 1.
    np.testing.assert_array_equal(om, np.full((5, 2), 2))
    # A zero derivative never counts as a flip.
    np.testing.assert_array_equal(analysis.omega(np.array([[[0.0, 1.0, -1.0]]]), np.array([[[-1.0, -1.0, -1.0]]])),
                                  [[1]])


def test_table10_all_and_pairwise():
    omegas = {"luring": np.array([[5, 1], [5, 1], [2, 9]]),
              "stack": np.array([[4, 2], [6, 0], [1, 1]]),
              "auto": np.array([[3, 0], [1, 0], [2, 1]])}
    # class 0: ex0 beats both, ex1 loses to stack, ex2 ties auto -> 1/3; class 1: ex0 loses to stack -> 2/3
    assert analysis.table10(omegas, "luring", "all") == pytest.approx([1 / 3, 2 / 3])
    # pairwise class 0: vs stack 2/3, vs auto 2/3 -> 2/3; class 1: vs stack 2/3, vs auto 1 -> 5/6
    assert analysis.table10(omegas, "luring", "pairwise") == pytest.approx([2 / 3, 5 / 6])
    assert analysis.table10_versus(omegas)["auto"] == pytest.approx([2 / 3, 1.0])
    with pytest.raises(ValueError):
        analysis.table10(omegas, "luring", "median")
