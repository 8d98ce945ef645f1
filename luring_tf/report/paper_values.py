"""The paper's published numbers, typed in once as data (table number noted), shown beside ours."""

# Table 8 (Appendix C): test accuracy and agreement on the ground truth with M.
TABLE_8 = {
    "mnist": {"M": (0.991, None), "stack": (0.98, 0.976), "auto": (0.971, 0.969),
              "ce": (0.982, 0.977), "luring": (0.974, 0.969)},
    "svhn": {"M": (0.961, None), "stack": (0.925, 0.913), "auto": (0.95, 0.943),
             "ce": (0.919, 0.907), "luring": (0.920, 0.917)},
    "cifar10": {"M": (0.893, None), "stack": (0.902, 0.842), "ce": (0.860, 0.834), "luring": (0.853, 0.822)},
}

# Table 16 (Appendix H.1): ImageNet, M = MobileNetV2; test accuracy and agreement on the ground truth with M
# (the same columns as Table 8).
TABLE_16 = {"imagenet": {"M": (0.713, None), "ce": (0.679, 0.647), "luring": (0.653, 0.614)}}

# Test accuracy / agreement of the paper per data set: Table 8, and Table 16 for ImageNet.
MODEL_TABLES = {**TABLE_8, **TABLE_16}
MODEL_TABLE_NAMES = {"imagenet": "Table 16"}  # the others: Table 8

# Table 9 (Appendix D.2): mean l2 and l-inf of CW-L2 adversarial examples.
TABLE_9 = {
    "mnist": {"M": (0.96, 0.27), "stack": (0.87, 0.25), "auto": (0.94, 0.35), "ce": (0.92, 0.34), "luring": (0.94, 0.31)},
    "svhn": {"M": (0.32, 0.04), "stack": (0.34, 0.05), "auto": (0.29, 0.04), "ce": (0.29, 0.04), "luring": (0.31, 0.04)},
    "cifar10": {"M": (0.42, 0.04), "stack": (0.4, 0.03), "ce": (0.41, 0.04), "luring": (0.39, 0.04)},
}

# Table 10 (Appendix D.3): per class (1..10 as printed), share of examples with higher Omega_c for Luring.
# The SVHN row is garbled in the extracted text past its first value; only what is legible is kept.
TABLE_10 = {
    "svhn": [0.81, None, None, None, None, None, None, None, None, None],
    "cifar10": [0.86, 0.88, 0.88, 0.87, 0.88, 0.87, 0.89, 0.86, 0.88, 0.85],
}

# Table 1 (SVHN, CIFAR10) and Table 14 (MNIST): (AC_M∘P, AC_M, DAC) per attack, eps, approach.
# Values the text extraction garbled (e.g. "-06-") are None.
_N = None
DEFENSE = {
    "mnist": {  # Table 14
        "spsa": {0.2: {"stack": (_N, 0.96, 0.97), "auto": (0.03, 0.95, 0.95), "ce": (_N, 0.97, 0.98), "luring": (_N, 0.99, 0.99)},
                 0.3: {"stack": (0.0, 0.86, 0.89), "auto": (0.03, 0.90, 0.92), "ce": (0.0, 0.94, 0.95), "luring": (0.05, 0.96, 0.97)},
                 0.4: {"stack": (0.0, 0.72, 0.77), "auto": (0.0, 0.85, 0.87), "ce": (0.0, 0.88, 0.91), "luring": (0.02, 0.95, 0.96)}},
        "eco": {0.2: {"stack": (0.03, 0.86, 0.92), "auto": (0.03, 0.86, 0.88), "ce": (_N, 0.91, 0.93), "luring": (_N, 0.99, 1.0)},
                0.3: {"stack": (0.02, 0.56, 0.65), "auto": (0.03, 0.68, 0.7), "ce": (0.01, 0.8, 0.87), "luring": (0.02, 0.91, 0.96)},
                0.4: {"stack": (0.01, 0.35, 0.54), "auto": (0.03, 0.36, 0.46), "ce": (0.01, 0.45, 0.48), "luring": (0.03, 0.77, 0.79)}},
        "mim-w": {0.2: {"stack": (0.0, 0.79, 0.82), "auto": (0.0, 0.81, 0.82), "ce": (0.0, 0.85, 0.88), "luring": (0.19, 0.92, 0.93)},
                  0.3: {"stack": (0.0, 0.31, 0.45), "auto": (0.0, 0.35, 0.45), "ce": (0.0, 0.43, 0.57), "luring": (0.13, 0.69, 0.75)},
                  0.4: {"stack": (0.0, 0.07, 0.24), "auto": (0.0, 0.07, 0.17), "ce": (0.0, 0.13, 0.31), "luring": (0.07, 0.34, 0.45)}},
    },
    "svhn": {  # Table 1 (top)
        "spsa": {0.03: {"stack": (0.10, 0.54, 0.56), "auto": (0.06, 0.37, 0.38), "ce": (_N, 0.67, 0.68), "luring": (_N, 0.96, 0.97)},
                 0.06: {"stack": (0.01, 0.21, 0.24), "auto": (0.0, 0.10, 0.11), "ce": (0.0, 0.37, 0.42), "luring": (0.0, 0.96, 0.96)},
                 0.08: {"stack": (0.0, 0.13, 0.15), "auto": (0.0, 0.06, 0.06), "ce": (0.0, 0.23, 0.28), "luring": (0.0, 0.94, 0.96)}},
        "eco": {0.03: {"stack": (0.06, 0.42, 0.44), "auto": (0.14, 0.48, 0.49), "ce": (_N, 0.66, 0.68), "luring": (0.20, 0.97, 0.98)},
                0.06: {"stack": (0.0, 0.11, 0.12), "auto": (0.06, 0.09, 0.11), "ce": (0.1, 0.35, 0.39), "luring": (0.1, 0.86, 0.88)},
                0.08: {"stack": (0.0, 0.03, 0.07), "auto": (0.06, 0.09, 0.09), "ce": (0.08, 0.29, 0.32), "luring": (0.09, 0.84, 0.86)}},
        "mim-w": {0.03: {"stack": (0.04, 0.32, 0.35), "auto": (_N, 0.20, 0.21), "ce": (_N, 0.41, 0.45), "luring": (0.11, 0.81, 0.87)},
                  0.06: {"stack": (0.0, 0.06, 0.09), "auto": (0.0, 0.03, 0.05), "ce": (0.0, 0.10, 0.18), "luring": (0.0, 0.58, 0.71)},
                  0.08: {"stack": (0.0, 0.03, 0.06), "auto": (0.0, 0.01, 0.02), "ce": (0.0, 0.06, 0.13), "luring": (0.0, 0.48, 0.67)}},
    },
    "cifar10": {  # Table 1 (bottom)
        "spsa": {0.02: {"stack": (0.01, 0.75, 0.78), "ce": (_N, 0.68, 0.71), "luring": (_N, 0.78, 0.82)},
                 0.03: {"stack": (0.0, 0.57, 0.62), "ce": (0.01, 0.45, 0.49), "luring": (0.02, 0.59, 0.64)},
                 0.04: {"stack": (0.0, 0.38, 0.42), "ce": (0.0, 0.22, 0.24), "luring": (0.01, 0.42, 0.50)}},
        "eco": {0.02: {"stack": (0.15, 0.7, 0.71), "ce": (_N, 0.6, 0.63), "luring": (_N, 0.81, 0.87)},
                0.03: {"stack": (0.09, 0.44, 0.59), "ce": (0.09, 0.36, 0.42), "luring": (0.2, 0.65, 0.67)},
                0.04: {"stack": (0.05, 0.29, 0.29), "ce": (0.04, 0.28, 0.34), "luring": (0.09, 0.35, 0.44)}},
        "mim-w": {0.02: {"stack": (_N, 0.49, 0.52), "ce": (_N, 0.4, 0.43), "luring": (_N, 0.58, 0.64)},
                  0.03: {"stack": (0.0, 0.24, 0.28), "ce": (0.0, 0.15, 0.19), "luring": (0.0, 0.30, 0.39)},
                  0.04: {"stack": (0.0, 0.13, 0.16), "ce": (0.0, 0.05, 0.1), "luring": (0.0, 0.18, 0.28)}},
    },
}
# Table 17 (Appendix H.1): ImageNet, MIM-W at eps 4/255, 5/255, 6/255. The extraction garbled the two
# 4/255 AC_M∘P cells ("-0.0^^" for C-E, "-0W" for Luring); read as 0.0, as the legible 5/255 and 6/255 cells.
DEFENSE["imagenet"] = {
    "mim-w": {4 / 255: {"ce": (0.0, 0.23, 0.35), "luring": (0.0, 0.40, 0.55)},
              5 / 255: {"ce": (0.0, 0.15, 0.25), "luring": (0.0, 0.28, 0.43)},
              6 / 255: {"ce": (0.0, 0.08, 0.18), "luring": (0.0, 0.18, 0.33)}},
}
DEFENSE_TABLE = {"mnist": "Table 14", "svhn": "Table 1 (top)", "cifar10": "Table 1 (bottom)", "imagenet": "Table 17"}

# Table 20 (Appendix I): best-for-the-adversary (AC_M∘P, AC_M, DAC) over FGSM, MIM, DIM, MIM-TI and
# DIM-TI, crafted on the trapdoored model ("trapdoor", AC_M∘P = its own accuracy) or on M∘P ("luring").
# Values the text extraction garbled (e.g. "^0719", "-0.03") are None.
TABLE_20 = {
    "mnist": {0.2: {"trapdoor": (0.06, 0.82, 0.97), "luring": (_N, 0.92, 0.93)},
              0.3: {"trapdoor": (0.0, 0.54, 0.94), "luring": (0.13, 0.69, 0.75)},
              0.4: {"trapdoor": (0.0, 0.27, 0.87), "luring": (0.07, 0.34, 0.45)}},
    "svhn": {0.03: {"trapdoor": (_N, 0.48, 0.58), "luring": (_N, 0.81, 0.87)},
             0.06: {"trapdoor": (0.07, 0.38, 0.48), "luring": (0.0, 0.58, 0.71)},
             0.08: {"trapdoor": (0.01, 0.23, 0.38), "luring": (0.0, 0.48, 0.67)}},
    "cifar10": {0.02: {"trapdoor": (_N, 0.71, 0.84), "luring": (_N, 0.58, 0.64)},
                0.03: {"trapdoor": (0.0, 0.58, 0.77), "luring": (0.0, 0.30, 0.39)},
                0.04: {"trapdoor": (0.0, 0.45, 0.78), "luring": (0.0, 0.16, 0.27)}},
}

# Table 18 (Appendix H.2): test accuracy and agreement (both models right on the ground-truth label)
# of M and T = M∘P (Luring), M trained classically ("base") or adversarially ("advtrain").
# Per data set: {row: (test accuracy, agreement)}; the M rows have no agreement.
TABLE_18 = {
    "mnist": {"base": (0.991, None), "base_luring": (0.97, 0.97), "advtrain": (0.99, None), "advtrain_luring": (0.96, 0.96)},
    "svhn": {"base": (0.961, None), "base_luring": (0.92, 0.92), "advtrain": (0.93, None), "advtrain_luring": (0.87, 0.85)},
    "cifar10": {"base": (0.893, None), "base_luring": (0.85, 0.82), "advtrain": (0.79, None), "advtrain_luring": (0.78, 0.76)},
}

# Table 19 (Appendix H.2): (AC_M,wb, AC_M, DAC) of Luring under MIM-W with FGSM (lowest AC_M, lowest
# DAC over FGSM, MIM, DIM, MIM-TI, DIM-TI) at one ε per data set, M trained classically ("base") or
# adversarially ("advtrain"). Extraction artefacts: a leading "-" before intact digits is dropped
# ("-0.75" = Table 14's 0.75, "-0.45"); illegible cells are None: Base AC_M,wb "^00" on MNIST and
# SVHN (probably 0.00, as CIFAR10's legible 0.0) and AdvTrain AC_M,wb "^0T82" on MNIST (probably 0.82).
TABLE_19 = {
    "mnist": {"eps": 0.3, "base": (_N, 0.69, 0.75), "advtrain": (_N, 0.97, 0.98)},
    "svhn": {"eps": 0.03, "base": (_N, 0.81, 0.87), "advtrain": (0.45, 0.898, 0.911)},
    "cifar10": {"eps": 0.03, "base": (0.0, 0.30, 0.39), "advtrain": (0.41, 0.85, 0.88)},
}
