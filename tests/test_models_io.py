"""Saved .h5 files load in plain Keras (no luring-tf import) with identical predictions."""

import subprocess
import sys

import keras
import numpy as np
import pytest

import architectures
from luring_tf.errors import UserError
from luring_tf.storage.models_io import compose, load_model, logits_view, save_model


def test_plain_keras_subprocess_reloads_m_p_t(tmp_path):
    keras.utils.set_random_seed(0)
    m = architectures.build_classifier("mnist")
    p = architectures.build_luring_component("mnist")
    t = compose(p, m)
    x = np.random.default_rng(0).random((5, 28, 28, 1)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    for name, model in {"M": m, "P": p, "T": t}.items():
        save_model(model, tmp_path / f"{name}.h5")
        np.save(tmp_path / f"{name}_expected.npy", np.asarray(model(x)))
    code = (
        "import os, sys, numpy as np, keras\n"
        "d = sys.argv[1]; x = np.load(d + '/x.npy')\n"
        "for n in 'MPT':\n"
        "    out = keras.models.load_model(d + f'/{n}.h5').predict(x, verbose=0)\n"
        "    assert np.allclose(out, np.load(d + f'/{n}_expected.npy'), atol=1e-6), n\n"
        "assert 'luring_tf' not in sys.modules and 'architectures' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                            cwd=tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_save_refuses_to_overwrite_and_is_atomic(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    path = save_model(model, tmp_path / "a.h5")
    before = path.read_bytes()
    with pytest.raises(UserError, match="--retrain"):
        save_model(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]  # no temporary file left


def test_missing_and_corrupt_model_files_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_model(tmp_path / "nope.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(UserError, match="cannot load model file"):
        load_model(bad)


def test_logits_view_of_fused_softmax_and_of_t():
    keras.utils.set_random_seed(0)
    fused = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(1).random((6, 4)).astype("float32")
    logits = np.asarray(logits_view(fused)(x))
    assert np.allclose(keras.ops.softmax(logits), fused(x), atol=1e-6)
    assert not np.allclose(logits.sum(1), 1.0)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    assert logits_view(plain) is plain
    m = architectures.build_classifier("mnist")
    t = compose(architectures.build_luring_component("mnist"), m)
    xi = np.random.default_rng(2).random((2, 28, 28, 1)).astype("float32")
    assert np.allclose(keras.ops.softmax(logits_view(t)(xi)), t(xi), atol=1e-6)


def test_checks_of_loaded_models_name_the_file_and_the_fix(tmp_path):
    from luring_tf.storage.models_io import check_built_on, check_model

    def classifier(shape=(28, 28, 1), classes=10, seed=0):
        keras.utils.set_random_seed(seed)
        return keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes),
                                 keras.layers.Activation("softmax")])

    m = classifier()
    check_model(m, "M.h5", "mnist", "retrain")
    with pytest.raises(UserError, match=r"M.h5 takes inputs of shape \(32, 32, 3\), mnist images are \(28, 28, 1\)"):
        check_model(classifier((32, 32, 3)), "M.h5", "mnist", "retrain")
    with pytest.raises(UserError, match="outputs 5 classes, mnist has 10: retrain"):
        check_model(classifier(classes=5), "M.h5", "mnist", "retrain")
    p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1)])
    save_model(m, tmp_path / "M.h5")
    save_model(compose(p, m), tmp_path / "T.h5")
    loaded_m, loaded_t = load_model(tmp_path / "M.h5"), load_model(tmp_path / "T.h5")
    check_built_on(loaded_t, loaded_m, "T.h5", "M.h5", "retrain")  # the same weights after a round trip
    with pytest.raises(UserError, match="T.h5 was not built on M.h5"):
        check_built_on(loaded_t, classifier(seed=1), "T.h5", "M.h5", "retrain")



def _nested_classifier(fused: bool):
    """(M, its logits by hand) for ``keras.Model(inp, base(preprocess(inp)))``, ``base`` ending in a softmax, fitted
    briefly on 300 real digits; ``fused``: ``Dense(10, activation='softmax')``, else ``Dense(10)`` + ``Softmax()``."""
    from real_digits import split_digits as digits

    keras.utils.set_random_seed(0)
    dense = keras.layers.Dense(10, activation="softmax" if fused else None)
    base_layers = [keras.layers.Flatten(), keras.layers.Dense(32, activation="relu"), dense]
    base = keras.Sequential([keras.Input((28, 28, 1)), *base_layers, *([] if fused else [keras.layers.Softmax()])],
                            name="base")
    inputs = keras.Input((28, 28, 1))
    preprocess = keras.layers.Rescaling(2.0, offset=-1.0)
    model = keras.Model(inputs, base(preprocess(inputs)), name="M")
    x, y = digits(300)
    model.compile(keras.optimizers.Adam(0.003), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=10, batch_size=50, verbose=0)
    features = keras.Model(base.inputs, dense.input)
    return model, lambda t: keras.ops.matmul(features(preprocess(t)), dense.kernel) + dense.bias


@pytest.mark.parametrize("fused", [False, True], ids=["softmax-layer", "fused-softmax"])
def test_logits_view_looks_inside_the_nested_last_model_of_a_functional_model(fused):
    """issue 27 #1: ``keras.Model(inp, base(preprocess(inp)))`` with ``base`` ending in a softmax gives base's logits
    (M and T = M∘P), so the luring loss runs on logits, not on probabilities."""
    from real_digits import split_digits as digits
    from luring_tf.training.losses import luring_loss
    from luring_tf.training.trainers import classifier_logits

    model, logits = _nested_classifier(fused)
    component = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1, use_bias=False)], name="P")
    component.layers[0].set_weights([np.full((1, 1, 1, 1), 0.9, np.float32)])
    protected = compose(component, model)
    x, _ = digits(64, "test")
    m_view, t_view = np.asarray(logits_view(model)(x)), np.asarray(logits_view(protected)(x))
    m_true, t_true = np.asarray(logits(x)), np.asarray(logits(component(x)))
    deviation = max(np.abs(m_view - m_true).max(), np.abs(t_view - t_true).max())
    loss_view = float(luring_loss(m_view, t_view, 1.0)[0])
    loss_true = float(luring_loss(m_true, t_true, 1.0)[0])
    print(f"nested {'fused' if fused else 'Softmax'}: view deviates from the logits by {deviation:.3g}; "
          f"luring loss on the view {loss_view:.4f}, on the logits {loss_true:.4f}")
    assert deviation < 1e-4
    assert abs(loss_view - loss_true) < 1e-4
    np.testing.assert_allclose(classifier_logits(model, x), m_true, atol=1e-4)  # the trainers' path
    np.testing.assert_allclose(keras.ops.softmax(m_view), model(x), atol=1e-6)


def test_logits_view_refuses_probabilities_it_cannot_strip():
    """issue 27 #1: an output of probabilities whose softmax is out of reach (here inside a Lambda) is refused in one
    line instead of being taken for logits; a model of logits is still returned as it is."""
    keras.utils.set_random_seed(0)
    hidden = [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)]
    hidden_softmax = keras.Sequential([*hidden, keras.layers.Lambda(lambda t: keras.ops.softmax(t * 1.0))])
    with pytest.raises(UserError, match="probabilities") as error:
        logits_view(hidden_softmax)
    assert "\n" not in str(error.value)
    plain = keras.Sequential(hidden)
    assert logits_view(plain) is plain
    inputs = keras.Input((28, 28, 1))
    logits = keras.layers.Dense(10)(keras.layers.Flatten()(inputs))
    op_softmax = keras.Model(inputs, keras.ops.softmax(logits))  # the op, not a layer: stripped, not refused
    x = np.random.default_rng(3).random((3, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(logits_view(op_softmax)(x), keras.Model(inputs, logits)(x), atol=1e-6)
