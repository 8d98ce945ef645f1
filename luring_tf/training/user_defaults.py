"""Training defaults for a user's own classifier (``--target-model`` without ``--dataset``; issue 22, item 3).

The profiles of ``configs/*.yaml`` size the paper's trainings on the paper's data (svhn quick: Table 6's
14.8 M-weight P, 100 steps of 32 images, no warm-up). For a user's model they are a poor start on a CPU:
Table 6 costs 2.0 s a step of 32 40x40 colour images on 2 CPU cores against 0.026 s for the compact P
(``python benchmarks/user_models.py --step-times``; 0.088 s with 32/64 filters; at 96x72x3 the compact P takes
0.12 s), and 100 steps of it do not reach a useful T.
:func:`user_model_defaults` chooses instead, from the image size and the class count K:

* P: for small grey images (sides <= 64, one channel, K <= 10) the paper's rule, Table 5 (4,385 weights: cheaper than
  the compact P, and it lures -- on ``examples/api_mnist_sample.py``'s model, MIM ε 0.3 DAC 0.57 with it
  against 0.09 with the compact P, at agreements 0.85 and 0.83; ``benchmarks/user_models.py`` case A: 0.933
  against the compact P's 0.962; case F, 48x20 grey K=43: 0.66, refused, so K > 10 stays compact); else the compact P
  (``architectures.by_shape.build_compact_component``: ~20-30 k weights, no BatchNormalization, two pooling
  levels above a side of 64) -- ``benchmarks/user_models.py`` measures its step time against Table 6's;
* an identity warm-up (P starts as the identity, so T starts as M), then the luring loss at a constant
  learning rate, evaluated on the validation images every ``eval_every`` steps (best kept);
* fewer and smaller luring steps for K > 10 (the agreement with M falls as the luring loss trains), fewer for
  large images (side > 64: each step costs ~8x more).

Precedence (one layer): profile < these defaults < ``--set`` < explicit flags (``--component`` ...). They are
returned as dotted overrides, applied *before* the user's ``--set`` strings (:func:`as_overrides`), and
recorded with the protected model (``user_defaults`` in ``<name>_luring.json``, with :func:`reason`).
With ``--dataset`` (a paper data set's profile) nothing here applies: the paper's component rule is kept.
"""

from __future__ import annotations

import json

LARGE_SIDE = 64  # the side above which images count as large (architectures.by_shape.SMALL_SIDE)


def user_model_defaults(image_shape, classes: int) -> dict:
    """Dotted ``train.luring.*`` overrides for a user's model of input ``image_shape`` (H, W, C) and K classes."""
    height, width, channels = (int(v) for v in image_shape)
    large = max(height, width) > LARGE_SIDE
    # Small grey images keep the paper's rule (Table 5, 4,385 weights: cheaper than the compact P, and it lures:
    # on the API example's MNIST model, MIM eps 0.3 DAC 0.57 with Table 5 against 0.09 with the compact P)
    # K > 10 stays compact: with Table 5 the 48x20 grey K=43 case reached 0.66 (refused), the compact P 0.912
    paper_p = not large and channels == 1 and classes <= 10
    many = classes > 10
    # K > 10: the luring loss lowers the agreement with M step after step (K = 43, 32x48: validation 0.94 after
    # 100 steps at lr 0.001, 0.84 after 1200; 0.90 after 400 at lr 0.0005): fewer, smaller steps
    steps = (300 if many else 500) if large else (300 if many else 800)
    return {
        "train.luring.component": None if paper_p else "compact",
        "train.luring.batch_size": 32,
        "train.luring.identity_warmup_steps": 200 if large else (400 if many else 300),
        "train.luring.steps": steps,
        "train.luring.lr": [0.0005 if many else 0.001],  # constant: a --set train.luring.lr=[x] alone stays valid
        "train.luring.lr_boundaries": [],
        "train.luring.eval_every": 100,
        "train.luring.restarts": 1,
        "train.luring.dropout": 0.0,
    }


def reason(image_shape, classes: int) -> str:
    """Why these defaults, in one sentence (for the record and the progress output)."""
    values = user_model_defaults(image_shape, classes)
    which = ("the paper's component by image size (Table 5 for small grey images: 4,385 weights)"
             if values["train.luring.component"] is None else
             "the compact P instead of the paper's component (Table 6: 14.8 M weights, 2.0 s a 32-image step at "
             "40x40x3 on 2 CPU cores against 0.026 s for the compact P's 19 k)")
    return (f"user-model defaults for {'x'.join(str(int(v)) for v in image_shape)} images, K={classes} "
            f"(no --dataset): {which}, "
            f"{values['train.luring.identity_warmup_steps']} identity warm-up steps, "
            f"{values['train.luring.steps']} luring steps of {values['train.luring.batch_size']} images "
            f"at lr {values['train.luring.lr'][0]:g} (fewer and smaller for K > 10, fewer for sides > {LARGE_SIDE}); "
            "--set and explicit flags override them")


def as_overrides(defaults: dict) -> list[str]:
    """``defaults`` as ``--set`` strings (``key=value``, the value in YAML/JSON), to go before the user's."""
    return [f"{key}={json.dumps(value)}" for key, value in defaults.items()]
