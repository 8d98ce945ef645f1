"""Property tests of every attack in ``attacks`` on tiny models trained here (no data, offline, CPU)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
import tensorflow as tf

import attacks
from attacks.helpers import gkern, l2_norms
from attacks.spsa import margin_loss
from attacks.transfer import _input_diversity

SHAPE = (8, 8, 1)
CLASSES = 3

# name, small parameters, the norm the attack promises for eps, eps used for the range check
# DIM on 8x8 images: T shifts by up to 2 of 8 pixels, so p = 1 fools T(x) but not x; p = 0.5 fools both.
CASES = [
    ("fgsm", {}, "linf", 0.1),
    ("pgd", {"nb_iter": 10}, "linf", 0.1),
    ("mim", {"nb_iter": 10}, "linf", 0.1),
    ("miml2", {"nb_iter": 10, "l2_bound": 2.0, "eps_iter": 0.2}, "linf", 0.1),
    ("dim", {"nb_iter": 10, "p": 0.5, "eps_iter": 0.03}, "linf", 0.1),
    ("mim_ti", {"nb_iter": 10, "kernel_size": 3}, "linf", 0.1),
    ("dim_ti", {"nb_iter": 10, "kernel_size": 3, "p": 0.5, "eps_iter": 0.03}, "linf", 0.1),
    ("spsa", {"nb_iter": 10, "spsa_samples": 32}, "linf", 0.1),
    ("eco", {"max_queries": 300, "batch_size": 16, "block_size": 2}, "linf", 0.1),
    ("cwl2", {"max_iterations": 50, "binary_search_steps": 3}, "l2", 1.0),
]
CASE_IDS = [c[0] for c in CASES]
MODELS = ["dense", "conv"]


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated noisy prototypes in [0,1]."""
    rng = np.random.default_rng(0)
    protos = rng.uniform(0.25, 0.75, size=(CLASSES, *SHAPE)).astype(np.float32)
    r = np.random.default_rng(seed)
    y = r.integers(0, CLASSES, n)
    x = np.clip(protos[y] + r.normal(0, 0.08, size=(n, *SHAPE)), 0, 1).astype(np.float32)
    return x, y


def _build(kind: str) -> keras.Model:
    keras.utils.set_random_seed(1)
    if kind == "dense":
        layers = [keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(CLASSES)]
    else:
        layers = [keras.layers.Conv2D(4, 3, padding="same", activation="relu"), keras.layers.Flatten(),
                  keras.layers.Dense(CLASSES)]
    model = keras.Sequential([keras.Input(SHAPE), *layers])
    x, y = _data(300, seed=1)
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="module")
def models() -> dict[str, keras.Model]:
    return {kind: _build(kind) for kind in MODELS}


@pytest.fixture(scope="module")
def batch(models) -> tuple[np.ndarray, np.ndarray]:
    x, y = _data(40, seed=2)
    for m in models.values():  # attacks start from correctly classified points
        keep = np.argmax(m(x), 1) == y
        x, y = x[keep], y[keep]
    assert len(x) >= 24
    return x[:24], y[:24]


def _run(name, params, model, x, y=None, **kw):
    return attacks.get(name)(model, x, y, **{**params, **kw})


def _dist(norm: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if norm == "l2":
        return l2_norms(a, b)
    return np.abs(a.astype(np.float64) - b).reshape(len(a), -1).max(1)


def _success(model, x_adv, y) -> float:
    return float(np.mean(np.argmax(model(x_adv), 1) != y))


def test_registry_names_every_attack():
    assert set(attacks.NAMES) == {attacks.canonical(c[0]) for c in CASES}
    for name in attacks.NAMES:
        assert callable(attacks.get(name)) and attacks.get(name).__doc__
    # one spelling (hyphens), the underscore one an alias; the configuration key keeps underscores
    assert "mim-ti" in attacks.NAMES and "mim_ti" not in attacks.NAMES
    assert attacks.get("mim_ti") is attacks.get("mim-ti") is attacks.mim_ti
    assert attacks.config_key("dim-ti") == attacks.config_key("DIM_TI") == "dim_ti"
    with pytest.raises(ValueError, match="mim-ti"):
        attacks.get("mim-tx")


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("name,params,norm,eps", CASES, ids=CASE_IDS)
def test_output_in_eps_ball_and_box(models, batch, kind, name, params, norm, eps):
    x, y = batch
    res = _run(name, params, models[kind], x, y, eps=eps, seed=0)
    assert res.x_adv.dtype == np.float32 and res.x_adv.shape == x.shape
    assert res.x_adv.min() >= 0.0 and res.x_adv.max() <= 1.0
    assert _dist(norm, res.x_adv, x).max() <= eps + 1e-6
    assert not np.array_equal(res.x_adv, x)  # it did something
    assert res.iterations >= 1 and res.queries >= len(x)


@pytest.mark.parametrize("name,params,norm,eps", CASES, ids=CASE_IDS)
def test_eps_zero_returns_x(models, batch, name, params, norm, eps):
    x, y = batch
    res = _run(name, params, models["dense"], x, y, eps=0.0, seed=0)
    np.testing.assert_array_equal(res.x_adv, x)


GRIDS = {"linf": (0.02, 0.1, 0.3), "l2": (0.1, 0.5, 3.0)}


@pytest.mark.parametrize("name,params,norm,eps", CASES, ids=CASE_IDS)
def test_success_grows_with_eps(models, batch, name, params, norm, eps):
    x, y = batch
    model = models["conv"]
    rates = [_success(model, _run(name, params, model, x, y, eps=e, seed=0).x_adv, y) for e in GRIDS[norm]]
    assert rates[-1] > rates[0], rates
    assert all(b >= a - 1.0 / len(x) for a, b in zip(rates, rates[1:])), rates


@pytest.mark.parametrize("name,params,norm,eps", CASES, ids=CASE_IDS)
def test_same_seed_same_output(models, batch, name, params, norm, eps):
    x, y = batch
    a = _run(name, params, models["conv"], x, y, eps=eps, seed=3)
    b = _run(name, params, models["conv"], x, y, eps=eps, seed=3)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    assert a.queries == b.queries


@pytest.mark.parametrize("name", ["dim", "spsa", "eco"])
def test_other_seed_other_output(models, batch, name):
    x, y = batch
    params = dict(next(c[1] for c in CASES if c[0] == name))
    if name == "dim":
        params["p"] = 0.5
    a = _run(name, params, models["conv"], x, y, eps=0.1, seed=3)
    b = _run(name, params, models["conv"], x, y, eps=0.1, seed=4)
    assert not np.array_equal(a.x_adv, b.x_adv)


@pytest.mark.parametrize("kind", MODELS)
def test_transfer_variants_reduce_to_cleverhans_mim(models, batch, kind):
    x, y = batch
    kw = dict(eps=0.1, nb_iter=15, eps_iter=0.01)
    ref = attacks.mim(models[kind], x, y, **kw).x_adv
    np.testing.assert_allclose(attacks.mim_ti(models[kind], x, y, kernel_size=1, **kw).x_adv, ref, atol=1e-5)
    np.testing.assert_allclose(attacks.dim(models[kind], x, y, p=0.0, seed=0, **kw).x_adv, ref, atol=1e-5)
    ti = attacks.mim_ti(models[kind], x, y, kernel_size=3, **kw).x_adv
    np.testing.assert_allclose(attacks.dim_ti(models[kind], x, y, kernel_size=3, p=0.0, **kw).x_adv, ti, atol=1e-5)
    assert np.abs(ti - ref).max() > 1e-3  # the kernel does change the attack


def test_default_labels_are_model_predictions(models, batch):
    x, _ = batch
    pred = np.argmax(models["dense"](x), 1)
    a = attacks.mim(models["dense"], x, None, eps=0.1, nb_iter=5)
    b = attacks.mim(models["dense"], x, pred, eps=0.1, nb_iter=5)
    np.testing.assert_array_equal(a.x_adv, b.x_adv)
    assert a.queries == b.queries + len(x)


def test_gkern_matches_original():
    k = gkern(5, 3)
    assert k.shape == (5, 5) and abs(k.sum() - 1) < 1e-6 and np.allclose(k, k.T)
    assert np.argmax(k) == 12 and gkern(1, 1).tolist() == [[1.0]]
    assert gkern(10, 3).shape == (10, 10)


@pytest.mark.parametrize("diversity", ["original", "xie"])
def test_input_diversity_keeps_shape(diversity):
    x = tf.ones([2, 8, 8, 3])
    out = _input_diversity(x, 1.0, tf.random.Generator.from_seed(0), diversity).numpy()
    assert out.shape == (2, 8, 8, 3)
    if diversity == "original":  # resized down and zero-padded: a zero border, ones inside
        assert (out == 0).any() and (out == 1).sum() >= 2 * 6 * 6 * 3
    np.testing.assert_array_equal(_input_diversity(x, 0.0, tf.random.Generator.from_seed(0), diversity), x)


def test_spsa_gradient_estimate_aligns_with_true_gradient():
    keras.utils.set_random_seed(5)
    linear = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    x, _ = _data(16, seed=3)
    y = np.argmax(linear(x), 1)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(margin_loss(linear(xt), tf.constant(y, tf.int64)))
    true = tape.gradient(loss, xt).numpy().reshape(len(x), -1)
    for chunk in (8192, 64):  # chunked evaluation estimates the same thing
        est = attacks.spsa_gradient_estimate(linear, x, y, spsa_samples=128, spsa_chunk=chunk, seed=0)
        est = est.reshape(len(x), -1)
        cos = (est * true).sum(1) / np.linalg.norm(est, axis=1) / np.linalg.norm(true, axis=1)
        assert cos.mean() > 0.5 and cos.min() > 0.2, cos
        # the original's scale: ~ delta * gradient
        ratio = np.linalg.norm(est, axis=1) / np.linalg.norm(true, axis=1)
        assert np.all((ratio > 0.002) & (ratio < 0.05)), ratio


class CountingModel:
    """Logits of a model, counting every image it is shown (eagerly or inside a tf.function)."""

    def __init__(self, model):
        self.model = model
        self.seen = tf.Variable(0, dtype=tf.int64)

    def __call__(self, x):
        self.seen.assign_add(tf.cast(tf.shape(x)[0], tf.int64))
        return self.model(x, training=False)


@pytest.mark.parametrize("early_stop,py2", [(False, False), (True, False), (False, True)])
def test_eco_budget_and_exact_query_count(models, batch, early_stop, py2):
    x, y = batch
    counting = CountingModel(models["conv"])
    res = attacks.eco(counting, x, None, eps=0.1, max_queries=250, block_size=2, batch_size=16,
                      early_stop=early_stop, py2_floor_div=py2, seed=0)
    per_image = res.extra["queries_per_image"]
    assert per_image.max() <= 250 and per_image.min() > 0
    assert res.queries == per_image.sum() + len(x)
    if not early_stop:
        assert res.queries == int(counting.seen.numpy())
    else:  # a successful chunk is charged up to its first success, though the model saw all of it
        assert res.extra["success"].any()
        assert int(counting.seen.numpy()) > res.queries
        wrong = np.argmax(models["conv"](res.x_adv), 1) != y
        assert np.array_equal(wrong[res.extra["success"]], np.ones(res.extra["success"].sum(), bool))


@pytest.mark.parametrize("name,params,norm,eps", CASES, ids=CASE_IDS)
def test_reported_queries_are_the_images_the_model_saw(models, batch, name, params, norm, eps):
    """Every attack's ``queries`` = images the model evaluated, default-label inference included (ECO with early
    stop is the one exception, tested above)."""
    x, _ = batch
    counting = CountingModel(models["dense"])
    res = _run(name, params, counting, x, None, eps=eps, seed=0)
    assert res.queries == int(counting.seen.numpy())
    per_iteration = {"spsa": len(x) * params.get("spsa_samples", 0)}.get(name, len(x))
    if name not in ("eco", "cwl2"):  # fixed cost: labels + iterations x images (x samples for SPSA)
        assert res.queries == len(x) + res.iterations * per_iteration
    if name == "cwl2":
        assert res.queries == len(x) + res.extra["iterations_per_image"].sum()


def test_spsa_query_count_with_chunked_groups(models, batch):
    x, y = batch
    counting = CountingModel(models["dense"])
    res = attacks.spsa(counting, x, y, eps=0.1, nb_iter=3, spsa_samples=16, spsa_chunk=16, seed=0)
    assert res.extra["images_per_group"] < len(x)  # really split into groups
    assert res.queries == int(counting.seen.numpy()) == len(x) * 3 * 16


def test_cwl2_hopeless_constant_aborts_at_once(models, batch):
    """cleverhans 3.0.1 starts the abort check from a previous loss of 1e6: with c = 1e7 and margins > 0.1 the
    first loss is above it, so every image stops after one iteration with nothing recorded."""
    x, y = batch
    res = attacks.cwl2(models["conv"], x[:6], y[:6], binary_search_steps=1, max_iterations=20, initial_const=1e7)
    assert res.iterations == 1 and res.queries == 6
    assert res.extra["iterations_per_image"].tolist() == [1] * 6
    assert not res.extra["success"].any()
    np.testing.assert_array_equal(res.x_adv, x[:6])


@pytest.mark.parametrize("kind", MODELS)
def test_cwl2_early_abort_is_per_image(models, batch, kind):
    """A batch gives each image what it gets alone (cleverhans 3.0.1's default batch of one): the abort of one
    image neither stops nor prolongs another."""
    x, y = batch
    kw = dict(binary_search_steps=3, max_iterations=30)
    together = attacks.cwl2(models[kind], x[:6], y[:6], **kw)
    alone = [attacks.cwl2(models[kind], x[i:i + 1], y[i:i + 1], **kw) for i in range(6)]
    assert len(set(together.extra["iterations_per_image"].tolist())) > 1  # the images did abort at different times
    assert together.extra["iterations_per_image"].tolist() == [int(r.extra["iterations_per_image"][0]) for r in alone]
    np.testing.assert_allclose(together.x_adv, np.concatenate([r.x_adv for r in alone]), atol=1e-5)


def test_cwl2_abort_leaves_other_images_unchanged(models, batch):
    """Images that never abort get exactly what abort_early=False gives them, beside images that do abort."""
    x, y = batch
    kw = dict(binary_search_steps=3, max_iterations=40, initial_const=0.1)
    aborting = attacks.cwl2(models["conv"], x[:12], y[:12], **kw)
    full = attacks.cwl2(models["conv"], x[:12], y[:12], abort_early=False, **kw)
    ran_all = aborting.extra["iterations_per_image"] == 3 * 40
    assert ran_all.any() and not ran_all.all()
    assert (full.extra["iterations_per_image"] == 3 * 40).all()
    np.testing.assert_allclose(aborting.x_adv[ran_all], full.x_adv[ran_all], atol=1e-5)
    np.testing.assert_allclose(aborting.extra["l2"][ran_all], full.extra["l2"][ran_all], atol=1e-5)
    np.testing.assert_array_equal(aborting.extra["const"][ran_all], full.extra["const"][ran_all])
    assert aborting.queries < full.queries  # aborted images left the batch


def test_cwl2_beats_fgsm_l2_at_equal_success(models, batch):
    x, y = batch
    model = models["conv"]
    cw = attacks.cwl2(model, x, y, max_iterations=100, binary_search_steps=5)
    cw_ok = np.argmax(model(cw.x_adv), 1) != y
    assert cw_ok.mean() >= 0.9
    assert np.array_equal(cw_ok, cw.extra["success"])
    cw_l2 = l2_norms(cw.x_adv, x)[cw_ok].mean()
    for eps in np.geomspace(0.05, 8.0, 30):  # smallest FGSM-L2 budget with at least CW's success
        fg = attacks.fgsm(model, x, y, eps=float(eps), norm=2).x_adv
        ok = np.argmax(model(fg), 1) != y
        if ok.mean() >= cw_ok.mean():
            break
    assert ok.mean() >= cw_ok.mean()
    assert cw_l2 < l2_norms(fg, x)[ok].mean()


INVALID = [
    ("mim", {"eps": -0.1}), ("mim", {"eps": 1.5}), ("fgsm", {"eps": 2.0}), ("pgd", {"eps": -1e-3}),
    ("pgd", {"eps": 0.1, "nb_iter": 0}), ("mim", {"eps": 0.1, "eps_iter": 0.0}),
    ("mim_ti", {"eps": 0.1, "kernel_size": 0}), ("dim_ti", {"eps": 0.1, "kernel_size": -3}),
    ("dim", {"eps": 0.1, "p": 1.5}), ("dim", {"eps": 0.1, "p": -0.1}), ("dim", {"eps": 0.1, "diversity": "up"}),
    ("dim", {"eps": 0.1, "resize": "bicubic"}), ("dim_ti", {"eps": 0.1, "resize": None}),
    ("eco", {"eps": 0.1, "max_queries": 0}), ("eco", {"eps": 0.1, "max_queries": -5}),
    ("eco", {"eps": 1.1}), ("spsa", {"eps": 0.1, "spsa_samples": 0}), ("spsa", {"eps": 0.1, "spsa_samples": 7}),
    ("spsa", {"eps": 0.1, "learning_rate": -1.0}), ("spsa", {"eps": 0.1, "nb_iter": 0}),
    ("miml2", {"eps": 0.1, "l2_bound": 0.0}), ("cwl2", {"eps": -1.0}), ("cwl2", {"max_iterations": 0}),
    ("fgsm", {"eps": 0.1, "norm": 1}),
]


@pytest.mark.parametrize("name,kwargs", INVALID, ids=[f"{n}-{'-'.join(k)}" for n, k in INVALID])
def test_invalid_parameters_raise(models, batch, name, kwargs):
    x, y = batch
    with pytest.raises(ValueError):
        attacks.get(name)(models["dense"], x, y, **kwargs)


def test_invalid_inputs_raise(models, batch):
    x, y = batch
    with pytest.raises(ValueError, match="unknown attack 'nope'.*fgsm"):
        attacks.get("nope")
    with pytest.raises(ValueError, match=r"\[0,1\]"):
        attacks.mim(models["dense"], x * 255, y, eps=0.1)
    with pytest.raises(ValueError, match="y must be"):
        attacks.mim(models["dense"], x, y[:3], eps=0.1)


GRAPH_KEYS = {"fgsm": ("fgsm", np.inf), "mim": ("mim", np.inf, 0.01, 1.0), "miml2": ("miml2", 0.2, 1.0)}


@pytest.mark.parametrize("name,params", [("fgsm", {}), ("mim", {"nb_iter": 5}),
                                         ("miml2", {"nb_iter": 5, "l2_bound": 2.0, "eps_iter": 0.2})])
def test_one_trace_serves_every_eps_and_follows_new_weights(name, params):
    """FGSM/MIM/MIM-L2 compile once per architecture: a second ε reuses the graph (no retrace) and gives
    the same result as a fresh uncached run (a plain callable); new weights are read, not baked in."""
    from attacks import compiled

    model = _build("conv")
    x, y = _data(12, seed=5)
    traces = []
    for eps in (0.05, 0.1):
        cached = attacks.get(name)(model, x, y, eps=eps, **params).x_adv
        traces.append(compiled.tracing_count(model, GRAPH_KEYS[name]))
        fresh = attacks.get(name)(lambda t: model(t, training=False), x, y, eps=eps, **params).x_adv
        np.testing.assert_array_equal(cached, fresh)
    assert traces[0] >= 1 and traces[1] == traces[0]  # (other tests' models of this architecture traced it too)
    before = attacks.get(name)(model, x, y, eps=0.1, **params).x_adv
    model.set_weights([w * -1.0 for w in model.get_weights()])
    after = attacks.get(name)(model, x, y, eps=0.1, **params).x_adv
    fresh = attacks.get(name)(lambda t: model(t, training=False), x, y, eps=0.1, **params).x_adv
    assert not np.allclose(before, after)
    np.testing.assert_array_equal(after, fresh)


def _renamed_twin(model: keras.Model, scale: float) -> keras.Model:
    """A model of ``model``'s architecture, its layers and itself under other names, weights scaled."""
    twin = keras.Sequential([keras.Input(SHAPE)] + [
        layer.__class__.from_config(dict(layer.get_config(), name=f"other_{i}")) for i, layer in enumerate(model.layers)],
        name="other")
    twin.set_weights([w * scale for w in model.get_weights()])
    return twin


def test_models_of_one_architecture_share_one_trace_each_with_its_own_weights():
    """Models that differ only by names and weights (the four T = M∘P) share the graph; each gets exactly
    what its own variables give (bit for bit); another architecture, or a Lambda layer, gets a graph of its own."""
    from attacks import compiled

    model = _build("conv")
    twin = _renamed_twin(model, 0.5)
    x, y = _data(13, seed=6)  # a batch size no other test uses: the first call traces
    key = GRAPH_KEYS["mim"]
    traces = []
    for m in (model, twin):
        out = attacks.mim(m, x, y, eps=0.1, nb_iter=4).x_adv
        traces.append(compiled.tracing_count(m, key))
        np.testing.assert_array_equal(out, attacks.mim(lambda t, m=m: m(t, training=False), x, y, eps=0.1,
                                                       nb_iter=4).x_adv)
    assert compiled.architecture_key(model) == compiled.architecture_key(twin)

    def unused(_):
        raise AssertionError("a graph of its own")
    assert compiled.for_model(twin, key, unused).function is compiled.for_model(model, key, unused).function
    assert traces[1] == traces[0] >= 1  # the twin ran on the model's trace
    wider = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(5, 3, padding="same", activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    other_activation = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(4, 3, padding="same",
                                                                                 activation="tanh"),
                                         keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    keys = {compiled.architecture_key(m) for m in (model, wider, other_activation)}
    assert len(keys) == 3

    def functional(names=(None, None, None)):  # Keras names every layer anew (dense_7, ...) unless told
        inputs = keras.Input(SHAPE, name=names[0])
        flat = keras.layers.Flatten(name=names[1])(inputs)
        return keras.Model(inputs, keras.layers.Dense(CLASSES, name=names[2])(flat))
    assert compiled.architecture_key(functional()) == compiled.architecture_key(functional()) is not None

    def t_like(names):  # T = Sequential([P, M's logits view]): names may repeat across the nested models
        p = keras.Sequential([keras.Input(SHAPE, name=names[0]), keras.layers.Conv2D(1, 1, name=names[1])])
        return keras.Sequential([p, functional(names)])
    assert compiled.architecture_key(t_like(("a", "b", "c"))) == compiled.architecture_key(t_like((None,) * 3))
    lambda_model = keras.Sequential([keras.Input(SHAPE), keras.layers.Lambda(lambda t: t * 2.0), *twin.layers])
    assert compiled.architecture_key(lambda_model) is None
    attacks.mim(lambda_model, x, y, eps=0.1, nb_iter=4)
    assert compiled.tracing_count(lambda_model, key) == 1 and compiled.tracing_count(model, key) == traces[0]


def _normalized_digit_classifier(adapt_on: np.ndarray) -> keras.Model:
    """A digit classifier whose first layer is a ``Normalization`` adapted on ``adapt_on`` (its mean and variance
    are constants of the layer, not variables); the other weights are the same for every call."""
    keras.utils.set_random_seed(3)
    normalization = keras.layers.Normalization()
    normalization.adapt(adapt_on)
    return keras.Sequential([keras.Input((28, 28, 1)), normalization, keras.layers.Flatten(),
                             keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)])


@pytest.mark.parametrize("name,params", [("fgsm", {}), ("mim", {"nb_iter": 5})])
def test_models_sharing_a_graph_are_attacked_through_their_own_normalization(name, params):
    """issue 27 #2: two models of one architecture whose adapted Normalization holds other statistics (real digits,
    and the same digits inverted), and the first adapted again, each get exactly what their own model gives."""
    from real_digits import split_digits as digits

    x, y = digits(17, "test")  # a batch size no other test uses
    x_adapt, _ = digits(200)
    differing, largest = [], []
    first = _normalized_digit_classifier(x_adapt)  # means 0.13, then 0.87, then the first adapted again
    for model in (first, _normalized_digit_classifier(1.0 - x_adapt), first):
        if model is first and differing:
            model.layers[0].adapt(0.5 * x_adapt)
        shared = attacks.get(name)(model, x, y, eps=0.1, **params).x_adv
        own = attacks.get(name)(lambda t, m=model: m(t, training=False), x, y, eps=0.1, **params).x_adv
        differing.append(int((shared != own).sum()))
        largest.append(float(np.abs(shared - own).max()))
    print(f"{name}: pixels differing from the model's own attack: {differing} of {x.size} (at most {largest})")
    assert differing == [0, 0, 0]


def test_logits_views_of_fused_softmax_models_share_a_graph_with_their_own_weights():
    """The logits view of ``Dense(10, activation='softmax')`` reads M's variables (issue 27 #3) and still shares
    the attack graph between models of one architecture (as the ImageNet T's do), each with its own weights."""
    from attacks import compiled
    from luring_tf.storage.models_io import compose, logits_view
    from real_digits import split_digits as digits

    x, y = digits(19, "test")  # a batch size no other test uses
    views = []
    for seed in (4, 5):
        keras.utils.set_random_seed(seed)
        m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(16, "relu"),
                              keras.layers.Dense(10, activation="softmax")])
        p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 3, padding="same")])
        views.append(logits_view(compose(p, m)))
    assert compiled.architecture_key(views[0]) == compiled.architecture_key(views[1]) is not None
    for view in views:
        shared = attacks.mim(view, x, y, eps=0.1, nb_iter=3).x_adv
        np.testing.assert_array_equal(shared, attacks.mim(lambda t, v=view: v(t, training=False), x, y, eps=0.1,
                                                          nb_iter=3).x_adv)
    traces = [compiled.tracing_count(view, GRAPH_KEYS["mim"]) for view in views]
    assert traces[0] >= 1 and traces[1] == traces[0]  # one trace served both
    assert compiled.for_model(views[1], GRAPH_KEYS["mim"], None).function is \
        compiled.for_model(views[0], GRAPH_KEYS["mim"], None).function


PER_IMAGE = [("fgsm", {}), ("pgd", {"nb_iter": 4, "eps_iter": 0.05, "rand_init": False}), ("mim", {"nb_iter": 4}),
             ("miml2", {"nb_iter": 4, "l2_bound": 2.0, "eps_iter": 0.2})]


@pytest.mark.parametrize("name,params", PER_IMAGE, ids=[n for n, _ in PER_IMAGE])
def test_one_eps_per_image_gives_each_image_what_its_eps_alone_gives(models, batch, name, params):
    """The characterization attacks its three ε in one batch: each image gets the result of a run at its own ε."""
    x, y = batch
    eps = np.array([0.05, 0.1, 0.2, 0.0] * (len(x) // 4), np.float32)
    together = attacks.get(name)(models["conv"], x, y, eps=eps, **params).x_adv
    for value in (0.05, 0.1, 0.2):
        rows = eps == value
        alone = attacks.get(name)(models["conv"], x[rows], y[rows], eps=float(value), **params).x_adv
        np.testing.assert_allclose(together[rows], alone, atol=1e-6)
        assert np.abs(together[rows] - x[rows]).max() <= value + 1e-6
    np.testing.assert_array_equal(together[eps == 0], x[eps == 0])
    with pytest.raises(ValueError, match=rf"one per image \(shape \[{len(x)}\]\)"):
        attacks.get(name)(models["conv"], x, y, eps=eps[:3], **params)
    with pytest.raises(ValueError, match="eps must be in"):
        attacks.get(name)(models["conv"], x, y, eps=np.full(len(x), 1.5), **params)


@pytest.mark.parametrize("norm,eps", [(np.inf, 0.3), (2, 1.0)])
def test_pgd_random_start_depends_on_its_seed_only(models, batch, norm, eps):
    """PGD's start is drawn from the call's seed (stateless): TF's global seed, set by anyone, changes nothing;
    another seed gives another start, in the ball (a zero-iteration run is not allowed: one tiny step shows it)."""
    import tensorflow as tf

    x, y = batch
    kw = dict(eps=eps, eps_iter=1e-6, nb_iter=1, norm=norm, rand_minmax=None)
    first = attacks.pgd(models["conv"], x, y, seed=11, **kw).x_adv
    tf.random.set_seed(99)
    assert (attacks.pgd(models["conv"], x, y, seed=11, **kw).x_adv == first).all()
    other = attacks.pgd(models["conv"], x, y, seed=12, **kw).x_adv
    assert not np.allclose(other, first)
    delta = (first - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == np.inf else np.sqrt((delta ** 2).sum(axis=1))
    assert (size <= eps + 1e-5).all() and size.mean() > eps / 4  # a start spread in the ball, not at x
