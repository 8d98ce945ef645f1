"""inference.outputs: the package's one way to predict; the same numbers as ``model.predict``, chunk for chunk."""

import gc
import weakref

import keras
import numpy as np
import tensorflow as tf

from luring_tf import inference


def _cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((12, 12, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
                             keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(5),
                             keras.layers.Activation("softmax")])


def test_outputs_equal_keras_predict_bit_for_bit_with_a_ragged_last_chunk():
    model = _cnn()
    x = np.random.default_rng(0).random((23, 12, 12, 3), dtype=np.float32)
    for batch in (5, 23, 100):
        np.testing.assert_array_equal(inference.outputs(model, x, batch), model.predict(x, batch_size=batch, verbose=0))
    stream = tf.data.Dataset.from_tensor_slices(x).batch(7)
    np.testing.assert_array_equal(inference.outputs(model, stream), model.predict(stream, verbose=0))
    assert inference.outputs(model, x[:0].copy(), 5).shape == (0, 5)  # model.predict fails there


def test_outputs_follow_weights_changed_after_the_first_call_and_keep_models_apart():
    first, second = _cnn(0), _cnn(1)
    x = np.random.default_rng(1).random((4, 12, 12, 3), dtype=np.float32)
    before = inference.outputs(first, x)
    assert not np.array_equal(before, inference.outputs(second, x))  # one compiled function per model
    first.set_weights(second.get_weights())  # weights are read at each call, never frozen in the graph
    np.testing.assert_array_equal(inference.outputs(first, x), inference.outputs(second, x))


def test_the_compiled_function_does_not_keep_its_model_alive():
    model = _cnn()
    inference.outputs(model, np.zeros((2, 12, 12, 3), np.float32))
    assert model in inference._COMPILED
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None
