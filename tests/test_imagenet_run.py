"""--dataset imagenet end to end (Section 4.4, App. H.1) on a tiny generated ImageNet-layout folder.

A MobileNetV2 (alpha 0.35) of random weights at 32x32 with 4 classes and the Table 15 P, a handful of
steps: Table 16 and a reduced Table 17 are written with the paper's values beside ours; M.h5 / T.h5
load in plain Keras and take [0,1] images; protocols the paper does not run on ImageNet and unobtainable
weights are one-line errors (exit 2).
"""

import json
import subprocess
import sys

import numpy as np
import pytest

import run_characterization
import run_defense
from luring_tf.cli.parser import run
from luring_tf.data import streams

WNIDS = ("n01440764", "n01443537", "n01484850", "n01491361")
TABLE17_EPS = "0.0156862745"  # 4/255
MODEL = ["--set", "model.weights=random", "--set", "model.image_size=32", "--set", "model.alpha=0.35",
         "--set", "model.classes=4", "--set", "data.val_size=8"]
TRAIN = ["--approaches", "luring", "--set", "train.luring.steps=4", "--set", "train.luring.eval_every=2",
         "--set", "train.luring.batch_size=8"]  # Luring only: C-E runs the same code with another loss
ATTACKS = ["--set", "defense.attacks.mim.nb_iter=2", "--set", "defense.attacks.dim.nb_iter=2",
           "--set", "defense.attacks.dim.p=[1.0]", "--set", "defense.attacks.mim_ti.nb_iter=2",
           "--set", "defense.attacks.mim_ti.kernel_size=[3]", "--set", "defense.attacks.dim_ti.nb_iter=2",
           "--set", "defense.attacks.dim_ti.kernel_size=[3]", "--set", "defense.candidates=24",
           "--n-examples", "4", "--eps", TABLE17_EPS, "--quiet"]


def write_imagenet_folder(root, per_class: int = 8, side: int = 40) -> None:
    """train/<wnid>/*.JPEG and val/<wnid>/*.JPEG: each class a colour tint plus noise (seeded)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for part in ("train", "val"):
        for k, wnid in enumerate(WNIDS):
            folder = root / part / wnid
            folder.mkdir(parents=True)
            for i in range(per_class):
                tint = np.zeros(3)
                tint[k % 3] = 120 + 40 * (k // 3)
                pixels = np.clip(tint + rng.normal(60, 40, (side, side, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{wnid}_{part}_{i}.JPEG", quality=90)


@pytest.fixture(scope="module")
def imagenet_run(tmp_path_factory):
    """run_characterization then run_defense, in process, with M's logits computed per batch (as for the
    augmented ImageNet training stream)."""
    work = tmp_path_factory.mktemp("imagenet")
    write_imagenet_folder(work / "data")
    common = ["--dataset", "imagenet", "--data-dir", str(work / "data"), "--models-dir", str(work / "models"),
              *MODEL]
    import tensorflow as tf

    patch = pytest.MonkeyPatch()
    patch.setattr(streams, "train_is_augmented", lambda data: True, raising=False)
    # Test speed only: tracing MobileNetV2's graphs dominates this test; grappler's graph rewriting
    # roughly doubles it on 2 CPU cores and changes nothing that is asserted here.
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        assert run_characterization.main([*common, *TRAIN, "--out", str(work / "results"), "--quiet"]) == 0
        assert run_defense.main([*common, "--attack", "mim-w", "--approaches", "luring", "--out",
                                 str(work / "defense"), *ATTACKS]) == 0
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": False})
        patch.undo()
    return work, common


def test_table16_beside_the_paper(imagenet_run):
    work, _ = imagenet_run
    record = json.loads((work / "results" / "characterization.json").read_text())
    assert set(record["table8"]) == {"M", "luring"}
    for name, row in record["table8"].items():
        assert row["test_accuracy"]["denominator"] == 4 * 8  # every val/ image, streamed
        assert 0.0 <= row["test_accuracy"]["value"] <= 1.0
        if name != "M":
            assert row["agreement_on_truth"]["value"] <= row["test_accuracy"]["value"]
    assert "skipped" in record["characterization"]  # no DR / IAR on ImageNet in the paper
    markdown = (work / "results" / "characterization.md").read_text()
    assert "Table 16" in markdown and "| 0.713 | - |" in markdown and "| 0.653 | 0.614 |" in markdown
    training = json.loads((work / "models" / "training.json").read_text())
    assert training["M"]["trained"] is False and training["luring"]["steps"] == 4


def test_table17_cells_beside_the_paper(imagenet_run):
    work, _ = imagenet_run
    summary = json.loads((work / "defense" / "defense_mim-w.json").read_text())
    assert summary["paper_table"] == "Table 17" and summary["dataset"] == "imagenet"
    assert [row["approach"] for row in summary["table"]] == ["luring"]  # Luring only: attacks on CPU take time
    assert len(summary["cells"]) == 4  # mim, dim, mim_ti, dim_ti
    assert summary["table"][0]["paper"] == {"AC_MoP": 0.0, "AC_M": 0.40, "DAC": 0.55}
    markdown = (work / "defense" / "defense_mim-w.md").read_text()
    assert "Table 17" in markdown and "/ 0.40 |" in markdown and "/ 0.55 |" in markdown
    for row in summary["table"]:
        assert row["n"] == summary["n"] > 0
        assert row["AC_M"]["value"] <= row["DAC"]["value"]  # DAC counts AC_M's correct answers and more
    with np.load(sorted((work / "defense" / "adversarial" / "luring").glob("*.npz"))[0]) as stored:
        x_adv = stored["x_adv"]
    assert x_adv.shape[1:] == (32, 32, 3) and x_adv.min() >= 0.0 and x_adv.max() <= 1.0


def test_models_load_in_plain_keras_and_take_unit_images(imagenet_run):
    """M.h5 and luring_T.h5 in a process without luring_tf: M starts with the [0,1] -> [-1,1] Rescaling, and
    both give the labels luring-tf recorded on the stored adversarial images ([0,1] inputs)."""
    work, _ = imagenet_run
    adversarial = sorted((work / "defense" / "adversarial" / "luring").glob("*.npz"))[0]
    code = ("import sys, numpy as np, keras\n"
            "d, stored = sys.argv[1], np.load(sys.argv[2])\n"
            "m = keras.models.load_model(d + '/models/M.h5')\n"
            "c = m.layers[0].get_config(); assert (c['scale'], c['offset']) == (2.0, -1.0), c\n"
            "t = keras.models.load_model(d + '/models/luring_T.h5')\n"
            "for model, key in ((m, 'm_pred'), (t, 't_pred')):\n"
            "    p = model.predict(stored['x_adv'], verbose=0)\n"
            "    assert np.allclose(p.sum(1), 1, atol=1e-4) and (p.argmax(1) == stored[key]).all(), key\n"
            "assert 'luring_tf' not in sys.modules\nprint('plain keras ok')")
    result = subprocess.run([sys.executable, "-c", code, str(work), str(adversarial)], capture_output=True,
                            text=True, timeout=300, cwd=work)
    assert result.returncode == 0 and "plain keras ok" in result.stdout, result.stderr[-2000:]


def _one_line_exit(script_main, argv, capsys, monkeypatch):
    """The script as run from the shell: exit status 2 and one stderr line."""
    monkeypatch.setattr(sys, "argv", ["script", *argv])
    with pytest.raises(SystemExit) as exit_info:
        run(script_main)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert exit_info.value.code == 2 and len(lines) == 1, lines
    return lines[0]


def test_stack_and_auto_are_refused_in_one_line(imagenet_run, capsys, monkeypatch):
    work, common = imagenet_run
    for approach, why in (("stack", "retrains M"), ("auto", "did not run Auto")):
        line = _one_line_exit(run_characterization.main, [*common, "--approaches", approach, "--out",
                                                          str(work / "refused")], capsys, monkeypatch)
        assert approach in line and why in line and "ce, luring" in line


def test_unobtainable_weights_are_one_line(tmp_path, imagenet_run, capsys, monkeypatch):
    work, _ = imagenet_run
    # Keras publishes ImageNet weights for 1,000 classes only: refused at once, online or offline
    argv = ["--dataset", "imagenet", "--data-dir", str(work / "data"), "--models-dir", str(tmp_path / "models"),
            "--out", str(tmp_path / "out"), *MODEL, "--set", "model.weights=imagenet"]
    line = _one_line_exit(run_characterization.main, argv, capsys, monkeypatch)
    assert "--set model.weights=PATH" in line and "--target-model" in line
    missing = str(tmp_path / "missing.h5")
    argv[argv.index("--out") + 1] = str(tmp_path / "out2")
    line = _one_line_exit(run_characterization.main, [*argv, "--set", f"model.weights={missing}"], capsys,
                          monkeypatch)
    assert missing in line and "--set model.weights=PATH" in line
