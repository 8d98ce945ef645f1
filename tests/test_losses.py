"""The luring loss against hand-computed values; gradients reach P only."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from luring_tf.training.losses import luring_loss, mimic_cross_entropy
from luring_tf.storage.models_io import model_input
from luring_tf.training.trainers import ComponentTrainer


def test_luring_loss_hand_example():
    # Example 1: M ranks class 0 first, class 1 second (α=0, a=1).
    #   z = [2, 5, 1]: M∘P's best other class is b=1 → hinge = max(0, 5-2) = 3; gap = -(2-5) = 3.
    # Example 2: α=2, a=0 (M's runner-up) but M∘P's runner-up is b=1 (they differ).
    #   z = [1, 3, 4]: hinge = max(0, 3-4) = 0; gap = -(4-1) = -3.
    m_logits = np.array([[3.0, 2.0, 0.0], [1.0, 0.0, 9.0]], np.float32)
    z = np.array([[2.0, 5.0, 1.0], [1.0, 3.0, 4.0]], np.float32)
    total, hinge, gap = luring_loss(m_logits, z, luring_coefficient=0.5)
    assert float(hinge) == pytest.approx((3 + 0) / 2)
    assert float(gap) == pytest.approx((3 - 3) / 2)
    assert float(total) == pytest.approx(1.5 + 0.5 * 0.0)
    # λ weights only the gap term
    z2 = np.array([[6.0, 1.0, 0.0], [0.0, 0.0, 2.0]], np.float32)  # hinge 0; gaps -(6-1)=-5, -(2-0)=-2
    total2, hinge2, gap2 = luring_loss(m_logits, z2, luring_coefficient=2.0)
    assert float(hinge2) == 0.0 and float(gap2) == pytest.approx(-3.5) and float(total2) == pytest.approx(-7.0)


def test_mimic_cross_entropy_is_minimal_at_matching_logits():
    m_logits = np.array([[2.0, 0.0, -1.0]], np.float32)
    same = float(mimic_cross_entropy(m_logits, m_logits))
    other = float(mimic_cross_entropy(m_logits, np.array([[0.0, 2.0, -1.0]], np.float32)))
    p = np.exp(m_logits) / np.exp(m_logits).sum()
    assert same == pytest.approx(-(p * np.log(p)).sum(), rel=1e-5)
    assert other > same


def _tiny_models():
    keras.utils.set_random_seed(1)
    m = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3, name="logits"),
                          keras.layers.Activation("softmax")])
    p = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")])
    return m, p


@pytest.mark.parametrize("objective", ["luring", "ce"])
def test_train_step_updates_p_and_never_m(objective):
    m, p = _tiny_models()
    m_before = [w.copy() for w in m.get_weights()]
    p_before = [w.copy() for w in p.get_weights()]
    trainer = ComponentTrainer(p, m, objective, luring_coefficient=1.0)
    trainer.compile(optimizer=keras.optimizers.Adam(0.05))
    x = np.random.default_rng(0).random((16, 4, 4, 1)).astype("float32")
    m_logits = np.asarray(keras.Model(model_input(m), m.get_layer("logits").output)(x))
    trainer.fit(tf.data.Dataset.from_tensor_slices((x, m_logits)).batch(8), epochs=2, verbose=0, shuffle=False)
    assert all(np.array_equal(a, b) for a, b in zip(m_before, m.get_weights()))
    assert any(not np.array_equal(a, b) for a, b in zip(p_before, p.get_weights()))
    assert m.trainable and all(layer.trainable for layer in m.layers)  # the caller's M is not frozen as a side effect
    slot_shapes = {tuple(v.shape) for v in trainer.optimizer.variables if len(v.shape)}
    assert slot_shapes == {tuple(v.shape) for v in p.trainable_variables}  # Adam slots for P only, none for M


def test_collapse_guard_stops_only_a_flat_first_evaluation():
    from luring_tf.training.trainers import CollapseGuard, constant_agreement

    class Holder:
        stop_training = False

    guard = CollapseGuard(floor=0.09)
    guard.set_model(Holder())
    guard.on_epoch_end(0, {"val_agreement": 0.10})
    assert guard.collapsed and guard.model.stop_training
    healthy = CollapseGuard(floor=0.09)
    healthy.set_model(Holder())
    healthy.on_epoch_end(0, {"val_agreement": 0.6})
    healthy.on_epoch_end(1, {"val_agreement": 0.05})  # later dips are KeepBestWeights' business
    assert not healthy.collapsed and not healthy.model.stop_training
    # after an identity warm-up P starts near M (agreement 0.93): a first dip to 0.88 is no collapse
    warmed = CollapseGuard(floor=0.11)
    warmed.set_model(Holder())
    warmed.on_epoch_end(0, {"val_agreement": 0.88})
    assert not warmed.collapsed
    logits = np.eye(10)[[0, 0, 0, 1, 2, 3, 4, 5, 6, 7]]  # M's most frequent label: 3 of 10
    assert constant_agreement(logits) == 0.3


def test_identity_warmup_teaches_p_to_reproduce_its_input_and_leaves_it_uncompiled():
    from luring_tf.training.trainers import identity_warmup

    _, p = _tiny_models()
    x = (np.random.default_rng(2).random((64, 4, 4, 1)) > 0.5).astype("float32")
    before = float(np.mean((p.predict(x, verbose=0) - x) ** 2))
    identity_warmup(p, x, steps=150, batch_size=16, seed=0, lr=0.05)
    after = float(np.mean((p.predict(x, verbose=0) - x) ** 2))
    assert after < 0.5 * before
    assert not p.compiled  # the saved P.h5 carries no training configuration


def test_train_component_runs_the_warmup_before_the_objective():
    from types import SimpleNamespace

    from luring_tf.training.trainers import train_component

    m, p = _tiny_models()
    rng = np.random.default_rng(3)
    data = SimpleNamespace(x_train=rng.random((64, 4, 4, 1)).astype("float32"),
                           x_val=rng.random((32, 4, 4, 1)).astype("float32"), y_val=rng.integers(0, 3, 32))
    cfg = {"steps": 20, "batch_size": 16, "lr": [0.01], "lr_boundaries": [], "eval_every": 10,
           "identity_warmup_steps": 5, "restarts": 0}
    summary = train_component(p, m, data, cfg, "luring")
    assert summary["identity_warmup_steps"] == 5 and summary["steps"] == 20 and summary["restarts"] == 0


def test_augmentation_spec_moves_training_images_and_rejects_unknown_keys():
    from luring_tf.training.trainers import augmentation

    assert augmentation(False, 28) is None and augmentation(None, 28) is None
    x = np.zeros((8, 28, 28, 1), np.float32)
    x[:, 10:18, 12:16] = 1.0
    moved = np.asarray(augmentation({"rotation_deg": 8, "shift_px": 2}, 28)(x, training=True))
    assert moved.shape == x.shape and not np.allclose(moved, x)
    assert np.allclose(np.asarray(augmentation({"rotation_deg": 8, "shift_px": 2}, 28)(x, training=False)), x)
    with pytest.raises(ValueError, match="unknown augmentation setting"):
        augmentation({"zoom": 0.1}, 28)
