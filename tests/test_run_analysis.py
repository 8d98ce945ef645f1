"""run_analysis.py end to end on tiny hand-built models and patterned MNIST files; render-only; errors."""

import importlib.util
import json

import keras
import numpy as np
import pytest

from conftest import ROOT, run_script
from official_files import write_mnist

from luring_tf.errors import UserError
from luring_tf.storage.models_io import compose, model_paths, save_model

TINY = ["--set", "analysis.cwl2.max_iterations=5", "--set", "analysis.cwl2.binary_search_steps=2",
        "--set", "characterization.attacks.mim.nb_iter=2", "--n-examples", "8", "--n-images", "2", "--quiet"]


def _load_script():
    spec = importlib.util.spec_from_file_location("run_analysis_under_test", ROOT / "run_analysis.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tiny_models(models_dir, x_train, y_train):
    """A linear M trained for seconds on the patterned digits, and T = M∘P with 1x1-conv components."""
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10),
                          keras.layers.Activation("softmax")], name="M")
    m.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    m.fit(x_train, y_train, epochs=15, batch_size=32, verbose=0)
    save_model(m, model_paths(models_dir)["M"])
    for i, approach in enumerate(("stack", "auto", "ce", "luring")):
        p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1)], name=f"{approach}_P")
        p.layers[0].set_weights([np.full((1, 1, 1, 1), 1.0 - 0.05 * i, np.float32), np.zeros(1, np.float32)])
        paths = model_paths(models_dir, approach)
        save_model(p, paths["P"])
        save_model(compose(p, m), paths["T"])


@pytest.fixture(scope="module")
def analysis_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("analysis")
    x_train, y_train, _, _ = write_mnist(work / "data", n_train=200, n_test=40, pattern=True)
    _tiny_models(work / "models", x_train[..., None].astype(np.float32) / 255.0, y_train)
    args = ["--dataset", "mnist", "--data-source", "files", "--data-dir", str(work / "data"),
            "--models-dir", str(work / "models"), "--out", str(work / "out"), *TINY]
    result = run_script("run_analysis.py", *args, cwd=work, timeout=300)
    return work, args, result


def test_end_to_end_writes_tables_and_figures(analysis_run):
    work, _, result = analysis_run
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = work / "out"
    for name in ("analysis.json", "analysis.npz", "analysis.md", "cwl2_l0.png", "fig3_saliency.png",
                 "fig4_adversarial.png"):
        assert (out / name).stat().st_size > 0, name
    record = json.loads((out / "analysis.json").read_text())
    assert record["n_examples"] == 8
    assert set(record["cwl2"]["table9"]) == {"M", "stack", "auto", "ce", "luring"}
    for stats in record["cwl2"]["table9"].values():
        assert stats["n_total"] == 8 and 0 <= stats["n"] <= 8
    assert len(record["table10"]["all"]) == 10 and len(record["table10"]["pairwise"]) == 10
    assert set(record["table10"]["versus"]) == {"stack", "auto", "ce"}
    with np.load(out / "analysis.npz") as arrays:
        assert arrays["omega_luring"].shape == (8, 10)
        assert arrays["saliency_luring"].shape == (2, 28, 28, 1)
        # P_luring = 0.85 x: its mapping gradient is 0.85 everywhere.
        np.testing.assert_allclose(arrays["saliency_luring"], 0.85, rtol=1e-5)
        assert arrays["fig4_x_adv"].shape == (2, 28, 28, 1)
    md = (out / "analysis.md").read_text()
    assert "Table 9" in md and "paper l2" in md and "0.96" in md and "Table 10" in md and "highest" in md
    assert "CW-L2 l0 (a statistic of Appendix D.2's attack, not Fig. 3)" in md  # Fig. 3's l0: characterization
    assert set(record["models"]) == {"M", "stack", "auto", "ce", "luring"} == set(record["fingerprint"]["models"])


def test_rerun_and_render_only_do_not_recompute(analysis_run, monkeypatch):
    work, args, first = analysis_run
    assert first.returncode == 0
    import attacks
    from luring_tf.evaluation import analysis

    def boom(*a, **k):
        raise AssertionError("recomputed")

    monkeypatch.setattr(attacks, "get", boom)
    monkeypatch.setattr(analysis, "analyze", boom)
    out = work / "out"
    (out / "cwl2_l0.png").unlink()
    (out / "analysis.md").unlink()
    script = _load_script()
    assert script.main(args) == 0  # same configuration: re-rendered from the stored results
    assert (out / "cwl2_l0.png").stat().st_size > 0 and (out / "analysis.md").is_file()
    (out / "fig4_adversarial.png").unlink()
    assert script.main(["--dataset", "mnist", "--out", str(out), "--render-only"]) == 0
    assert (out / "fig4_adversarial.png").stat().st_size > 0
    with pytest.raises(UserError, match="another configuration"):
        script.main([*args, "--n-examples", "7"])


def test_retrained_models_recompute_and_corrupt_results_need_force(analysis_run, tmp_path, monkeypatch):
    import shutil

    from luring_tf.evaluation import analysis

    work, args, first = analysis_run
    assert first.returncode == 0
    shutil.copytree(work / "out", tmp_path / "out")
    shutil.copytree(work / "models", tmp_path / "models")
    args = [a.replace(str(work / "out"), str(tmp_path / "out")).replace(str(work / "models"), str(tmp_path / "models"))
            for a in args]
    out = tmp_path / "out"
    before = json.loads((out / "analysis.json").read_text())
    # "retrain" Luring: P = 0.86 x instead of 0.85 x -- every clean prediction, hence the set, unchanged
    m = keras.models.load_model(tmp_path / "models" / "M.h5", compile=False)
    p = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(1, 1)], name="luring_P")
    p.layers[0].set_weights([np.full((1, 1, 1, 1), 0.86, np.float32), np.zeros(1, np.float32)])
    save_model(compose(p, m), model_paths(tmp_path / "models", "luring")["T"], overwrite=True)
    runs = []
    real = analysis.analyze
    monkeypatch.setattr(analysis, "analyze", lambda *a, **k: runs.append(1) or real(*a, **k))
    script = _load_script()
    assert script.main(args) == 0
    assert runs == [1]  # same configuration, other models: recomputed, not re-rendered
    after = json.loads((out / "analysis.json").read_text())
    assert after["models"]["luring"] != before["models"]["luring"] and after["models"]["M"] == before["models"]["M"]
    assert after["index"] == before["index"]
    with np.load(out / "analysis.npz") as arrays:
        np.testing.assert_allclose(arrays["saliency_luring"], 0.86, rtol=1e-5)
    assert script.main(args) == 0 and runs == [1]  # now current: re-rendered
    # truncated results: one line naming the file and --force; --force recomputes it
    for name in ("analysis.npz", "analysis.json"):
        data = (out / name).read_bytes()
        (out / name).write_bytes(data[: len(data) // 2])
        with pytest.raises(UserError, match=rf"{name}.*--force") as info:
            script.main(args)
        assert "\n" not in str(info.value)
    assert script.main([*args, "--force"]) == 0 and runs == [1, 1]
    assert json.loads((out / "analysis.json").read_text())["models"] == after["models"]


def test_missing_models_and_render_only_without_results_name_the_fix(tmp_path):
    script = _load_script()
    with pytest.raises(UserError, match="run_characterization.py --dataset mnist --profile quick"):
        script.main(["--dataset", "mnist", "--models-dir", str(tmp_path / "none"), "--out", str(tmp_path / "o")])
    with pytest.raises(UserError, match="no stored analysis"):
        script.main(["--dataset", "mnist", "--out", str(tmp_path / "o"), "--render-only"])
    # another --out: this process's main() above still holds the lock on tmp_path / "o"
    result = run_script("run_analysis.py", "--dataset", "mnist", "--models-dir", str(tmp_path / "none"),
                        "--out", str(tmp_path / "o2"), cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "run_characterization.py" in result.stderr.strip().splitlines()[-1]
