"""run_characterization.py on SVHN and CIFAR10 from tiny official files, end to end (the paper's VGG-style models).

A file of its own so that, with the suite spread over two workers (pytest-xdist ``--dist loadfile``), it runs
beside the MNIST end-to-end tests rather than after them.
"""

import json

import pytest

from conftest import run_script
from official_files import write_cifar, write_svhn
from test_run_characterization import TINY


@pytest.mark.parametrize("dataset,writer", [("svhn", write_svhn), ("cifar10", write_cifar)])
def test_svhn_and_cifar10_end_to_end_from_official_files(tmp_path, dataset, writer):
    if dataset == "svhn":
        writer(tmp_path / "data", n_train=80, n_test=30, pattern=True)
    else:
        writer(tmp_path / "data", per_batch=16, archive=True, pattern=True)
    small = ["--set", "train.base.batch_size=16", "--set", "train.stack.batch_size=16",
             "--set", "train.ce.batch_size=8", "--set", "train.luring.batch_size=8",
             "--set", "train.ce.steps=4", "--set", "train.luring.steps=4",
             "--set", "train.ce.eval_every=2", "--set", "train.luring.eval_every=2",
             # no warm-up, no restarts: the VGG components take ~2.5 s a warm-up step on 2 cores, and on
             # 66 images M's validation predictions are one class, so every first evaluation looks flat
             "--set", "train.ce.identity_warmup_steps=0", "--set", "train.luring.identity_warmup_steps=0",
             "--set", "train.ce.restarts=0", "--set", "train.luring.restarts=0",
             "--set", "data.n_train=null", "--set", "data.n_test=null"]
    small += ["--eps", "0.03"]
    if dataset == "svhn":
        extra = ["--set", "train.auto.epochs=1", "--set", "train.auto.batch_size=16"]
    else:  # random augmentation is not repeatable across tf.data threads: keep this test deterministic
        extra = [f"--set=train.{a}.augment=false" for a in ("base", "stack", "ce", "luring")]
    result = run_script("run_characterization.py", "--dataset", dataset, "--data-dir", str(tmp_path / "data"),
                        "--models-dir", str(tmp_path / "models"), "--out", str(tmp_path / "out"),
                        "--attacks", "fgsm", "mim", "--approaches", "luring",
                        *TINY, *small, *extra, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    record = json.loads((tmp_path / "out" / "characterization.json").read_text())
    assert record["dataset"] == dataset and "local files" in record["data_source"]
    assert (tmp_path / "models" / "luring_T.h5").is_file()
