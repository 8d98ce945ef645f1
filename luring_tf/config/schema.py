"""What every configuration value may be: one table of rules, checked once the profile and the overrides are merged.

Each rule names a dotted-key pattern (``*`` matches one key) and what the value must be. A key no
rule names (a setting added to ``luring_tf/configs/*.yaml`` later) must keep the type of its profile default
(a number stays a number, a list a list, ...). A bad value is a one-line ``UserError`` naming the
key, the value and what is allowed, raised before any data is loaded or any model trained.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Callable

from luring_tf.errors import UserError

DATA_SOURCES = ("auto", "tfds", "files", "sample", "folder")
OPTIMIZERS = ("adam", "sgd")  # train.ce / train.luring (sgd: App. H.1, ImageNet)
MODEL_ARCHS = ("mobilenetv2",)  # model.arch (ImageNet's M, App. H.1)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


# A check returns None when the value is allowed, else the phrase "what is allowed".
Check = Callable[[Any], "str | None"]


def positive_int(v):
    return None if _is_int(v) and v > 0 else "a positive integer"


def non_negative_int(v):
    return None if _is_int(v) and v >= 0 else "an integer >= 0"


def optional_positive_int(v):
    return None if v is None or (_is_int(v) and v > 0) else "a positive integer or null (all)"


def positive_number(v):
    return None if _is_number(v) and v > 0 else "a number > 0"


def non_negative_number(v):
    return None if _is_number(v) and v >= 0 else "a number >= 0"


def unit_interval(v):
    return None if _is_number(v) and 0 <= v <= 1 else "a number in [0, 1]"


def below_one(v):
    return None if _is_number(v) and 0 <= v < 1 else "a number in [0, 1)"


def boolean(v):
    return None if isinstance(v, bool) else "true or false"


def data_source(v):
    return None if v in DATA_SOURCES else f"one of {', '.join(DATA_SOURCES)}"


def holdout_size(v):
    ok = (_is_int(v) and v > 0) or (isinstance(v, float) and 0 < v < 1)
    return None if ok else "a number of images (a positive integer) or a fraction strictly between 0 and 1"


def optional_text(v):
    return None if v is None or (isinstance(v, str) and v.strip()) else "a name or null"


def epsilons(v):
    if not isinstance(v, list) or not v:
        return "a non-empty list of numbers in [0, 1], e.g. [0.2, 0.3]"
    for item in v:
        if not _is_number(item) or not 0 <= item <= 1:
            return f"a list of numbers in [0, 1] ({item!r} is outside [0, 1]: pixel values are in [0, 1])"
    return None


def learning_rates(v):
    items = v if isinstance(v, list) else [v]
    if not items or not all(_is_number(x) and x > 0 for x in items):
        return "a non-empty list of numbers > 0, e.g. [0.001]"
    return None


def boundaries(v):
    if not isinstance(v, list) or not all(_is_int(x) and x > 0 for x in v):
        return "a list of positive integers, e.g. [] or [35000, 45000]"
    if any(b <= a for a, b in zip(v, v[1:])):
        return "a strictly increasing list of positive integers, e.g. [35000, 45000]"
    return None


def augment(v):
    if isinstance(v, bool) or v is None:
        return None
    allowed = "false, true or a mapping {rotation_deg: number >= 0, shift_px: number >= 0}"
    if not isinstance(v, dict) or set(v) - {"rotation_deg", "shift_px"}:
        return allowed
    return None if all(_is_number(x) and x >= 0 for x in v.values()) else allowed


def one_or_list(check: Check, what: str) -> Check:
    """A scalar passing ``check`` or a non-empty list of them (a grid of runs)."""

    def run(v):
        items = v if isinstance(v, list) else [v]
        return None if items and all(check(x) is None for x in items) else what

    return run


def params_mapping(v):
    return None if v is None or isinstance(v, dict) else "a mapping of attack parameters (or {})"


def mapping(v):
    return None if isinstance(v, dict) else "a mapping"


def text(v):
    return None if isinstance(v, str) else "a string"


def trapdoor_init(v):
    return None if v in ("m", "scratch") else "m (fine-tune M's weights) or scratch (M's architecture, fresh weights)"


def optimizer(v):
    return None if v in OPTIMIZERS else f"one of {', '.join(OPTIMIZERS)}"


def model_arch(v):
    return None if v in MODEL_ARCHS else f"one of {', '.join(MODEL_ARCHS)}"


def model_weights(v):
    return None if isinstance(v, str) and v.strip() else "imagenet, random or the path of a weights / model file"


def image_side(v):
    return None if _is_int(v) and v >= 32 else "an integer >= 32 (MobileNetV2's smallest input side)"


def class_count(v):
    return None if _is_int(v) and v >= 2 else "an integer >= 2"


def open_unit_interval(v):
    return None if _is_number(v) and 0 < v < 1 else "a number in (0, 1)"


# Patterns in order; the first that matches a key decides. A rule on a mapping also lets the
# walk go on into it.
RULES: list[tuple[str, Check]] = [
    ("dataset", text),
    ("profile", text),
    ("seed", non_negative_int),
    ("deterministic", boolean),
    ("data.source", data_source),
    ("data.val_fraction", below_one),
    ("data.split_seed", non_negative_int),
    ("data.n_train", optional_positive_int),
    ("data.n_test", optional_positive_int),
    ("data.sample_test_size", positive_int),
    ("data.test_size", holdout_size),
    ("data.tfds_name", optional_text),
    ("data.val_size", positive_int),
    ("model", mapping),  # a pretrained M (ImageNet, App. H.1)
    ("model.arch", model_arch),
    ("model.weights", model_weights),
    ("model.image_size", image_side),
    ("model.alpha", positive_number),
    ("model.classes", class_count),
    ("train.*.epochs", positive_int),
    ("train.*.steps", positive_int),
    ("train.*.batch_size", positive_int),
    ("train.*.eval_every", positive_int),
    ("train.*.lr", learning_rates),
    ("train.*.lr_fallback", learning_rates),
    ("train.*.lr_boundaries", boundaries),
    ("train.*.fallback_below", unit_interval),
    ("train.*.augment", augment),
    ("train.*.dropout", below_one),
    ("train.*.restarts", non_negative_int),
    ("train.*.identity_warmup_steps", non_negative_int),
    ("train.*.luring_coefficient", non_negative_number),
    ("train.*.classifier_training", boolean),
    ("train.*.optimizer", optimizer),
    ("train.*.momentum", below_one),
    ("train.*.min_agreement", unit_interval),  # --target-model: the refusal floor on validation agreement
    ("train.*.component", optional_text),  # --target-model: null (paper rule), compact, or module:function
    ("train.advtrain.eps", unit_interval),  # adversarial training of M (App. H.2): the PGD of each batch
    ("train.advtrain.eps_iter", positive_number),
    ("train.advtrain.nb_iter", positive_int),
    ("train.advtrain.rand_init", boolean),
    ("train.advtrain.eps_warmup_epochs", non_negative_number),
    ("train.trapdoor.init", trapdoor_init),
    ("train.trapdoor.inject_ratio", unit_interval),
    ("train.trapdoor.mask_ratio", unit_interval),
    ("train.trapdoor.squares", positive_int),
    ("train.trapdoor.square_size", positive_int),
    ("train.trapdoor.clean_margin", unit_interval),
    ("train.trapdoor.detector_fpr", open_unit_interval),
    ("train.trapdoor.signature_images", optional_positive_int),
    ("train.*", mapping),
    ("*.n_examples", positive_int),
    ("*.candidates", positive_int),
    ("*.batch_size", positive_int),
    ("*.eps", epsilons),
    ("*.attacks", mapping),
    ("*.attacks.*", params_mapping),
    ("*.attacks.*.nb_iter", positive_int),
    ("*.attacks.*.eps_iter", positive_number),
    ("*.attacks.*.rand_minmax", non_negative_number),
    ("*.attacks.*.decay", non_negative_number),
    ("*.attacks.*.l2_bound", positive_number),
    ("*.attacks.*.learning_rate", positive_number),
    ("*.attacks.*.delta", positive_number),
    ("*.attacks.*.spsa_samples", positive_int),
    ("*.attacks.*.max_queries", positive_int),
    ("*.attacks.*.block_size", positive_int),
    ("*.attacks.*.batch_size", positive_int),
    ("*.attacks.*.early_stop", boolean),
    ("*.attacks.*.p", one_or_list(unit_interval, "a number in [0, 1] or a non-empty list of them")),
    ("*.attacks.*.kernel_size", one_or_list(positive_int, "a positive integer or a non-empty list of them")),
    ("defense.mim_w.include_fgsm", boolean),
    ("defense.white_box", mapping),  # AC_M,wb (Table 19): PGD on M itself
    ("defense.white_box.nb_iter", positive_int),
    ("defense.white_box.eps_iter", positive_number),
    ("analysis.cwl2.binary_search_steps", positive_int),
    ("analysis.cwl2.max_iterations", positive_int),
    ("analysis.cwl2.learning_rate", positive_number),
    ("analysis.cwl2.initial_const", positive_number),
]


def _rule(key: str) -> Check | None:
    depth = key.count(".")
    for pattern, check in RULES:
        if pattern.count(".") == depth and fnmatch.fnmatchcase(key, pattern):
            return check
    return None


def _like_default(default) -> Check | None:
    """The permissive check of a key no rule names: the type of its profile default."""
    if default is None:
        return None
    if isinstance(default, bool):
        return boolean
    if _is_int(default):
        return lambda v: None if _is_int(v) else "an integer (like its default)"
    if isinstance(default, float):
        return lambda v: None if _is_number(v) else "a number (like its default)"
    if isinstance(default, str):
        return text
    if isinstance(default, list):
        return lambda v: None if isinstance(v, list) else "a list (like its default)"
    if isinstance(default, dict):
        return mapping
    return None


def _show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else str(value)


def problem(key: str, value, default=None) -> str | None:
    """What is allowed for ``key`` when ``value`` is not, else None."""
    check = _rule(key) or _like_default(default)
    return check(value) if check else None


def check_value(key: str, value, flag: str | None = None, default=None, source: str = "luring_tf/configs/<dataset>.yaml") -> None:
    """Raise the one-line ``UserError`` when ``value`` is not allowed for ``key`` (named by ``flag`` if given)."""
    allowed = problem(key, value, default)
    if allowed:
        shown = " ".join(map(_show, value)) if flag and isinstance(value, list) else _show(value)
        where = f"{flag} {shown}" if flag else f"configuration value {key}={shown}"
        fix = "" if flag else f" (fix it in --set or in {source})"
        raise UserError(f"{where} is not allowed: expected {allowed}{fix}")


def validate(config: dict, defaults: dict | None = None, source: str | None = None) -> dict:
    """Check every value of a resolved ``config``; ``defaults`` (the profile before overrides) types unnamed keys;
    ``source`` names the file the values come from in the error (default: the shipped profile file)."""
    source = source or f"luring_tf/configs/{config.get('dataset', '<dataset>')}.yaml"
    _walk(config, defaults if defaults is not None else config, "", source)
    for name, section in (config.get("train") or {}).items():
        if isinstance(section, dict):
            _check_schedule(f"train.{name}", section)
    return config


def _walk(node: dict, defaults, prefix: str, source: str) -> None:
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        default = defaults.get(key) if isinstance(defaults, dict) else None
        check_value(dotted, value, default=default, source=source)
        if isinstance(value, dict) and _rule(dotted) is not augment:
            _walk(value, default if isinstance(default, dict) else {}, dotted + ".", source)


def _check_schedule(prefix: str, section: dict) -> None:
    """One more learning rate than boundaries (for ``lr`` and ``lr_fallback``)."""
    n_boundaries = len(section.get("lr_boundaries") or [])
    for key in ("lr", "lr_fallback"):
        values = section.get(key)
        if values is None:
            continue
        n_values = len(values) if isinstance(values, list) else 1
        if n_values != n_boundaries + 1:
            raise UserError(f"configuration value {prefix}.{key}={_show(values)} has {n_values} values for "
                            f"{n_boundaries} {prefix}.lr_boundaries: give one more value than boundaries (e.g. "
                            f"--set {prefix}.lr=[0.001] --set {prefix}.lr_boundaries=[])")
