"""Stored result cells: keyed by the models' weights (retrain -> recompute), corrupt files -> one line / --force.

Tiny hand-set models on 4x4 grey images with 3 classes: M reads the class from one lit pixel,
T = M∘P with a 1x1-convolution P. "Retraining" = new weights for P that leave every prediction on
the clean images (hence the evaluation indices) unchanged -- the case the old keying got wrong.
"""

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from luring_tf.evaluation import characterization
from luring_tf.evaluation import defense
from luring_tf.errors import UserError
from luring_tf.storage.models_io import compose


def _data(n=30):
    """Images with background 0.4 and one pixel (index = class) at 0.6; classes balanced."""
    y = np.arange(n) % 3
    x = np.full((n, 16), 0.4, np.float32)
    x[np.arange(n), y] = 0.6
    return SimpleNamespace(x_test=x.reshape(n, 4, 4, 1), y_test=y.astype(np.int64))


def _models(p_weight=1.0, chance=False):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3),
                          keras.layers.Activation("softmax")], name="M")
    w = np.zeros((16, 3), np.float32)
    w[[0, 1, 2], [0, 1, 2]] = 5.0
    m.layers[1].set_weights([w, np.zeros(3, np.float32)])

    def component(weight):
        p = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(1, 1, use_bias=False)], name="P")
        p.layers[0].set_weights([np.full((1, 1, 1, 1), weight, np.float32)])
        return compose(p, m)

    models = {"M": m, "stack": component(1.0), "luring": component(p_weight)}
    if chance:
        models["ce"] = component(0.0)  # P maps every image to 0: T answers one class
    return models


CHAR_CONFIG = {"seed": 0, "characterization": {"n_examples": 12, "batch_size": 50, "eps": [0.3],
                                               "attacks": {"fgsm": {}}}}
DEF_CONFIG = {"seed": 0, "dataset": "mnist",
              "defense": {"n_examples": 12, "batch_size": 50, "eps": [0.3], "attacks": {"fgsm": {}}}}


def _count_crafts(monkeypatch, module):
    calls = []
    real = module.craft

    def counting(attack, model, *args, **kwargs):
        calls.append(attack)
        return real(attack, model, *args, **kwargs)

    monkeypatch.setattr(module, "craft", counting)
    return calls


# ---- characterization -----------------------------------------------------------------------

def test_characterization_cell_is_recomputed_after_retraining(tmp_path, monkeypatch, capsys):
    calls = _count_crafts(monkeypatch, characterization)
    data = _data()
    first = characterization.characterize(_models(1.0), data, CHAR_CONFIG, tmp_path, verbose=False)
    assert len(calls) == 2  # fgsm on stack and on luring
    characterization.characterize(_models(1.0), data, CHAR_CONFIG, tmp_path, verbose=False)
    assert len(calls) == 2  # same models: both cells reused
    retrained = _models(1.05)
    second = characterization.characterize(retrained, data, CHAR_CONFIG, tmp_path, verbose=False)
    assert second["n_examples"] == first["n_examples"]  # same evaluation set: only the models changed
    assert second["models"]["luring"] != first["models"]["luring"]
    assert second["models"]["stack"] == first["models"]["stack"]
    assert calls == ["fgsm", "fgsm", "fgsm"]  # luring's cell recomputed, stack's reused
    assert "fgsm_eps0.3_luring.npz holds fgsm eps=0.3 on luring for other models" in capsys.readouterr().out
    stored = np.load(tmp_path / "cells" / "fgsm_eps0.3_luring.npz")
    assert second["models"]["luring"] in str(stored["params"])


def test_characterization_crafts_an_attacks_eps_in_one_pass_and_only_the_missing_ones(tmp_path, monkeypatch):
    """Every ε of an attack on one T in one craft (one budget per image); a deleted cell alone is recomputed,
    and holds what it held (an image's result does not depend on the ε of the others in its batch)."""
    seen = []
    real = characterization.craft

    def recording(attack, model, x, y, eps, *args, **kwargs):
        seen.append(sorted({round(float(e), 6) for e in np.atleast_1d(eps)}))
        return real(attack, model, x, y, eps, *args, **kwargs)

    monkeypatch.setattr(characterization, "craft", recording)
    config = {"seed": 0, "characterization": dict(CHAR_CONFIG["characterization"], eps=[0.1, 0.3])}
    data, models = _data(), _models()
    first = characterization.characterize(models, data, config, tmp_path, verbose=False)
    assert seen == [[0.1, 0.3], [0.1, 0.3]]  # stack, luring
    cell = tmp_path / "cells" / "fgsm_eps0.1_luring.npz"
    before = dict(np.load(cell))
    cell.unlink()
    again = characterization.characterize(models, data, config, tmp_path, verbose=False)
    assert seen[2:] == [[0.1]]
    after = np.load(cell)
    for key in ("t_adv", "m_adv", "l0", "l2"):
        np.testing.assert_allclose(after[key], before[key], atol=1e-6)
    assert again["results"] == first["results"]


def test_characterization_corrupt_cell_is_one_line_and_force_recomputes(tmp_path, monkeypatch):
    data, models = _data(), _models()
    characterization.characterize(models, data, CHAR_CONFIG, tmp_path, verbose=False)
    cell = tmp_path / "cells" / "fgsm_eps0.3_stack.npz"
    cell.write_bytes(cell.read_bytes()[:40])  # truncated
    with pytest.raises(UserError, match=r"fgsm_eps0\.3_stack\.npz.*--force") as info:
        characterization.characterize(models, data, CHAR_CONFIG, tmp_path, verbose=False)
    assert "\n" not in str(info.value)
    calls = _count_crafts(monkeypatch, characterization)
    record = characterization.characterize(models, data, CHAR_CONFIG, tmp_path, force=True, verbose=False)
    assert calls == ["fgsm", "fgsm"] and len(record["results"]) == 2
    assert set(np.load(cell).files) >= {"t_adv", "m_adv", "l0", "l0_pixels"}


def test_characterization_l0_statistics_over_the_kept_set(tmp_path):
    data = _data()
    record = characterization.characterize(_models(1.0), data, CHAR_CONFIG, tmp_path, verbose=False)
    y = data.y_test[record["index"]]
    cells = {a: np.load(tmp_path / "cells" / f"fgsm_eps0.3_{a}.npz") for a in ("stack", "luring")}
    kept = np.logical_and.reduce([cells[a]["t_adv"] != y for a in cells])
    assert kept.sum() > 0
    for row in record["results"]:
        stored = cells[row["approach"]]
        assert row["l0"]["components"]["n"] == row["kept"] == int(kept.sum())
        assert row["mean_l0"] == pytest.approx(stored["l0"][kept].mean())
        # FGSM moves only the 3 components M's logits read (the others have a zero gradient)
        assert row["l0"]["components"]["min"] == row["l0"]["components"]["max"] == 3
        assert row["l0"]["pixels"]["mean"] == pytest.approx(3)  # grey-scale: a pixel is one component
    verdict = record["figure3"][0]
    assert verdict["attack"] == "fgsm" and verdict["kept"] == int(kept.sum())
    assert verdict["luring_l0_highest"] is True  # equal means: a tie counts as highest


def test_table8_flags_a_model_at_chance_level():
    from luring_tf.report.characterization import table8_markdown

    table = characterization.model_table(_models(1.0, chance=True), _data())
    assert table["ce"]["at_chance"] is True
    assert table["ce"]["test_accuracy"]["value"] == pytest.approx(1 / 3)  # one class of three, balanced
    assert "chance level" in table["ce"]["warning"] and "1/3" in table["ce"]["warning"]
    assert table["luring"]["at_chance"] is False and "warning" not in table["luring"]
    assert table["M"]["at_chance"] is False
    text = table8_markdown("mnist", table)
    ce_line = next(line for line in text.splitlines() if line.startswith("| C-E"))
    assert "at chance level" in ce_line
    assert "at chance level" not in next(line for line in text.splitlines() if line.startswith("| Luring"))
    assert "**Warning — C-E:**" in text


# ---- defense --------------------------------------------------------------------------------

def test_defense_cell_is_recomputed_after_retraining(tmp_path, monkeypatch):
    calls = _count_crafts(monkeypatch, defense)
    data = _data()
    first = defense.run_defense(_models(1.0), data, DEF_CONFIG, "fgsm", tmp_path, verbose=False)
    again = defense.run_defense(_models(1.0), data, DEF_CONFIG, "fgsm", tmp_path, verbose=False)
    assert len(calls) == 2 and all(c["reused"] for c in again["cells"])
    retrained = defense.run_defense(_models(1.05), data, DEF_CONFIG, "fgsm", tmp_path, verbose=False)
    assert retrained["index"] == first["index"]  # same evaluation set: only luring's T changed
    by_approach = {c["approach"]: c for c in retrained["cells"]}
    assert by_approach["stack"]["reused"] and not by_approach["luring"]["reused"]
    assert by_approach["luring"]["models"]["T"] == retrained["models"]["luring"] != first["models"]["luring"]
    assert len(calls) == 3
    # the old models' cell stays on disk under its own name and is never read for the new models
    assert len(list((tmp_path / "cells" / "luring").glob("*.json"))) == 2
    stored = np.load(by_approach["luring"]["adversarial_set"])
    assert retrained["models"]["luring"] in str(stored["models"])


def test_defense_stored_cell_of_other_models_is_not_reused(tmp_path, capsys):
    data = _data()
    record = defense.run_defense(_models(1.0), data, DEF_CONFIG, "fgsm", tmp_path, verbose=False)
    cell = next(c for c in record["cells"] if c["approach"] == "luring")
    name = sorted((tmp_path / "cells" / "luring").glob("*.json"))[0].stem
    x, y = data.x_test[record["index"]], data.y_test[record["index"]]
    models = _models(1.05)  # a cell file of this name, asked for other models: recomputed, not read
    result = defense.run_cell(models, "luring", "fgsm", {}, 0.3, x, y, record["index"], tmp_path, name, {}, 50, 0,
                              verbose=False)
    assert not result["reused"] and result["models"]["T"] != cell["models"]["T"]
    assert "computed on other models" in capsys.readouterr().out


@pytest.mark.parametrize("which", ["cells", "adversarial"])
def test_defense_corrupt_cell_is_one_line_and_force_recomputes(tmp_path, monkeypatch, which):
    data, models = _data(), _models()
    defense.run_defense(models, data, DEF_CONFIG, "fgsm", tmp_path, verbose=False)
    path = sorted((tmp_path / which / "luring").glob("*"))[0]
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(UserError, match=rf"{path.name}.*--force") as info:
        defense.run_defense(models, data, DEF_CONFIG, "fgsm", tmp_path, verbose=False)
    assert "\n" not in str(info.value)
    calls = _count_crafts(monkeypatch, defense)
    record = defense.run_defense(models, data, DEF_CONFIG, "fgsm", tmp_path, force=True, verbose=False)
    assert len(calls) == 2 and not any(c["reused"] for c in record["cells"])
    again = defense.run_defense(models, data, DEF_CONFIG, "fgsm", tmp_path, verbose=False)
    assert all(c["reused"] for c in again["cells"])  # the recomputed files read back
