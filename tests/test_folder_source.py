"""Image-folder source (issue 11): labelled / unlabeled layouts, the seeded hold-out, unreadable files
skipped and counted, grey <-> RGB, resizing, and one-line errors. Tiny PNG/JPEG folders: seconds."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, run_script
from luring_tf.data import load_dataset
from luring_tf.data.folder import load_image_folder
from luring_tf.errors import UserError


def write_images(folder: Path, n: int, shape=(12, 12, 3), seed=0, ext="png", prefix="img") -> np.ndarray:
    """n random uint8 images saved as <prefix><i>.<ext> in folder; returns them [n,H,W,C]."""
    folder.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)
    for i, image in enumerate(images):
        Image.fromarray(image[..., 0] if shape[2] == 1 else image).save(folder / f"{prefix}{i:03d}.{ext}")
    return images


def labelled_folder(root: Path) -> Path:
    write_images(root / "b_dog", 7, seed=1, ext="PNG")
    write_images(root / "a_cat", 9, seed=2, ext="jpg")
    write_images(root / "c_owl" / "deeper", 4, seed=3)
    return root


def test_labelled_folder_takes_sorted_subfolder_names_as_classes(tmp_path):
    data = load_image_folder(labelled_folder(tmp_path / "pets"), (12, 12, 3), test_size=4)
    assert data.labelled and data.class_names == ("a_cat", "b_dog", "c_owl")
    assert (data.size("train"), data.size("val"), data.size("test")) == (13, 3, 4)
    for split in ("train", "val", "test"):  # each image's label is its sub-folder
        for path, label in zip(data.files[split], data.labels(split)):
            assert Path(path).relative_to(tmp_path / "pets").parts[0] == data.class_names[label]
    assert "test hold-out 4" in data.source and "3 classes" in data.source and data.skipped == 0
    x, y = next(iter(data.stream("train", 5, extras=("labels",))))
    assert x.shape == (5, 12, 12, 3) and x.dtype == "float32" and y.dtype == "int64"
    assert 0.0 <= float(np.min(x)) and float(np.max(x)) <= 1.0


def test_hold_out_is_fixed_by_the_seed_and_moves_with_it(tmp_path):
    folder = labelled_folder(tmp_path / "pets")
    first, again = (load_image_folder(folder, (12, 12, 3), test_size=0.25, seed=5) for _ in range(2))
    other = load_image_folder(folder, (12, 12, 3), test_size=0.25, seed=6)
    assert first.files == again.files
    assert set(first.files["test"]) != set(other.files["test"])
    assert len(first.files["test"]) == 5  # ceil(0.25 * 20)
    every = [p for s in ("train", "val", "test") for p in first.files[s]]
    assert len(every) == len(set(every)) == 20


def test_flat_folder_is_unlabeled_and_streams_images_only(tmp_path):
    write_images(tmp_path / "flat", 10, shape=(8, 8, 1))
    data = load_image_folder(tmp_path / "flat", (8, 8, 1), test_size=2)
    assert not data.labelled and data.y_train is None and data.labels("test") is None and data.class_names is None
    assert "unlabeled" in data.source
    batch = next(iter(data.stream("train", 4)))
    assert batch.shape == (4, 8, 8, 1)
    with pytest.raises(ValueError, match="no labels"):
        data.stream("train", 4, extras=("labels",))


def test_unreadable_files_are_skipped_counted_and_named(tmp_path, capsys):
    folder = tmp_path / "flat"
    write_images(folder, 6)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    (folder / "empty.JPG").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image name: ignored, not counted")
    data = load_image_folder(folder, (12, 12, 3), test_size=1)
    assert data.skipped == 2 and sum(data.size(s) for s in ("train", "val", "test")) == 6
    assert "2 unreadable skipped" in data.source
    err = capsys.readouterr().err
    assert "skipped 2 unreadable" in err and "broken.png" in err and "empty.JPG" in err
    assert all("broken" not in p for s in ("train", "val", "test") for p in data.files[s])
    assert data.images("train").shape == (data.size("train"), 12, 12, 3)  # streams never meet them


def test_exact_size_png_reads_back_as_uint8_over_255(tmp_path):
    images = write_images(tmp_path / "flat", 5, shape=(6, 7, 3))
    data = load_image_folder(tmp_path / "flat", (6, 7, 3), test_size=1)
    index = {f"img{i:03d}.png": i for i in range(5)}
    order = [index[Path(p).name] for p in data.files["train"]]
    np.testing.assert_array_equal(data.images("train"), images[order].astype(np.float32) / np.float32(255))


def test_grey_and_rgb_are_converted_and_images_resized(tmp_path):
    grey = tmp_path / "grey"
    write_images(grey, 6, shape=(20, 30, 1))
    as_rgb = load_image_folder(grey, (10, 10, 3), test_size=1).images("train")
    assert as_rgb.shape == (4, 10, 10, 3)
    np.testing.assert_array_equal(as_rgb[..., 0], as_rgb[..., 1])
    np.testing.assert_array_equal(as_rgb[..., 0], as_rgb[..., 2])
    red = tmp_path / "red"
    red.mkdir()
    for i in range(3):  # pure red, 40x20: constant images stay constant when resized
        Image.fromarray(np.tile(np.array([255, 0, 0], np.uint8), (40, 20, 1))).save(red / f"{i}.png")
    as_grey = load_image_folder(red, (8, 8, 1), test_size=1).images("test")
    assert as_grey.shape == (1, 8, 8, 1)
    assert np.allclose(as_grey, as_grey.flat[0]) and 0.2 < as_grey.flat[0] < 0.4  # luma of red ~ 0.3


@pytest.mark.parametrize("make, words", [
    (lambda d: (d / "a.png").write_bytes(b"garbage") and (d / "b.jpg").write_bytes(b"x"),
     ["no readable image", "2 .jpg/.jpeg/.png files are all unreadable"]),
    (lambda d: (d / "readme.txt").write_text("hello"), ["no readable image", "no .jpg/.jpeg/.png file"]),
    (lambda d: write_images(d, 2) is None or write_images(d / "cls", 2) is None, ["both at its top level"]),
], ids=["corrupt-only", "no-image-files", "mixed-layout"])
def test_folders_without_usable_images_are_one_line_errors(tmp_path, make, words):
    folder = tmp_path / "bad"
    folder.mkdir()
    make(folder)
    with pytest.raises(UserError) as error:
        load_image_folder(folder, (8, 8, 1))
    message = str(error.value)
    assert "\n" not in message and str(folder) in message
    assert all(w in message for w in words), message


def test_bad_shape_and_test_size_are_user_errors(tmp_path):
    write_images(tmp_path / "flat", 3)
    with pytest.raises(UserError, match="C 1 .grey. or 3"):
        load_image_folder(tmp_path / "flat", (8, 8, 2))
    with pytest.raises(UserError, match="test size"):
        load_image_folder(tmp_path / "flat", (8, 8, 1), test_size=1.5)


def test_auto_source_detects_an_image_folder_and_explicit_folder_source(tmp_path):
    write_images(tmp_path / "flat", 8, shape=(28, 28, 1))
    auto = load_dataset("mnist", "auto", str(tmp_path / "flat"), test_size=2)
    assert auto.files is not None and auto.image_shape == (28, 28, 1) and auto.size("test") == 2
    explicit = load_dataset("mnist", "folder", str(tmp_path / "flat"), image_shape=(16, 16, 3), test_size=2)
    assert explicit.image_shape == (16, 16, 3) and explicit.images("test").shape == (2, 16, 16, 3)


def test_script_refuses_a_folder_of_non_images_in_one_line(tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    for name in ("a.png", "b.jpeg", "c.PNG"):
        (folder / name).write_bytes(b"this is text, not pixels")
    result = run_script("run_characterization.py", "--data-dir", str(folder), "--out", str(tmp_path / "out"),
                        "--models-dir", str(tmp_path / "models"), cwd=tmp_path)
    assert_one_line_error(result, "--data-dir", "no readable image", "all unreadable")
    assert not (tmp_path / "models").exists() or not any((tmp_path / "models").iterdir())
