"""The builders match the paper's Tables 2-7 layer by layer; parameter counts derived by hand.

Conv2D params = k·k·C_in·F (+F with bias); Dense = in·out (+out); BatchNormalization = 4·C
(γ, β trainable; moving mean/variance not trainable).
"""

import numpy as np
import pytest

import architectures


def _trainable(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _kinds(model) -> list[str]:
    return [layer.__class__.__name__ for layer in model.layers]


def test_mnist_classifier_table2():
    m = architectures.build_classifier("mnist")
    assert _kinds(m) == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dense", "Activation"]
    # conv1 5·5·1·32 = 800 (no bias); conv2 5·5·32·64 = 51,200; 7·7·64 = 3136 → dense 3136·1024+1024
    # = 3,212,288; logits 1024·10+10 = 10,250.  Total 3,274,538.
    assert m.count_params() == 800 + 51_200 + 3_212_288 + 10_250 == 3_274_538
    assert _trainable(m) == m.count_params()
    assert m.get_layer("logits").output.shape[-1] == 10
    assert m.layers[-1].get_config()["activation"] == "softmax"


def test_mnist_component_table5():
    p = architectures.build_luring_component("mnist")
    # 3·3·1·16+16 = 160; 3·3·16·8+8 = 1,160; three 3·3·8·8+8 = 584 (the stride-2 conv and two decoder
    # convs); 3·3·8·16+16 = 1,168; 3·3·16·1+1 = 145.  Total 160+1160+3·584+1168+145 = 4,385.
    assert p.count_params() == 160 + 1_160 + 3 * 584 + 1_168 + 145 == 4_385
    assert p.output_shape == (None, 28, 28, 1)
    assert p.layers[-1].get_config()["activation"] == "sigmoid"
    strides = [layer.strides for layer in p.layers if layer.__class__.__name__ == "Conv2D"]
    assert strides[2] == (2, 2)


@pytest.mark.parametrize("dataset,width,total,trainable", [
    # SVHN w=64: convs 3·3·3·64 + 3·3·64·64 + 3·3·64·128 + 3·3·128·128 + 3·3·128·256 + 3·3·256·256
    #   = 1,728+36,864+73,728+147,456+294,912+589,824 = 1,144,512; dense 2304·1024 + 1024·1024 + 1024·10
    #   = 2,359,296+1,048,576+10,240 = 3,418,112; BN 4·(64+64+128+128+256+256+1024+1024) = 11,776.
    #   Total 4,574,400; non-trainable = half the BN = 5,888.
    ("svhn", 64, 4_574_400, 4_568_512),
    # CIFAR10 w=128: convs 3,456+147,456+294,912+589,824+1,179,648+2,359,296 = 4,574,592; dense
    #   4608·1024+1024·1024+10,240 = 5,777,408; BN 4·(2·128+2·256+2·512+2048) = 15,360; total 10,367,360.
    ("cifar10", 128, 10_367_360, 10_359_680),
])
def test_vgg_classifiers_tables_3_4(dataset, width, total, trainable):
    m = architectures.build_classifier(dataset)
    assert m.count_params() == total
    assert _trainable(m) == trainable
    convs = [layer for layer in m.layers if layer.__class__.__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [width, width, 2 * width, 2 * width, 4 * width, 4 * width]
    assert convs[0].padding == "valid" and all(not c.use_bias for c in convs)
    kinds = _kinds(m)
    # pooling blocks: Conv → MaxPool → BN → ReLU
    first_pool = kinds.index("MaxPooling2D")
    assert kinds[first_pool - 1:first_pool + 3] == ["Conv2D", "MaxPooling2D", "BatchNormalization", "Activation"]
    assert kinds.count("Dropout") == 2


@pytest.mark.parametrize("dataset", ["svhn", "cifar10"])
def test_vgg_components_tables_6_7(dataset):
    p = architectures.build_luring_component(dataset, dropout=0.3)
    # Per-layer params from the spec: convs (with bias) 3,584 + 295,168 + 1,180,160 + 4,719,616 +
    # 4,719,104 + 2,359,808 + 1,179,904 + 295,040 + 73,792 + 1,731 = 14,827,907; BN 4·(128+256+512+1024
    # +512+512+256+128+64+3) = 13,580.  Total 14,841,487; moving statistics 6,790.
    assert p.count_params() == 14_827_907 + 13_580 == 14_841_487
    assert _trainable(p) == 14_841_487 - 6_790
    assert p.output_shape == (None, 32, 32, 3)
    rates = [layer.rate for layer in p.layers if layer.__class__.__name__ == "Dropout"]
    assert rates == [0.3, 0.3]
    assert len({id(layer) for layer in p.layers}) == len(p.layers)  # no layer reused (h5 saving needs it)
    pools = _kinds(p).count("MaxPooling2D")
    assert pools == (3 if dataset == "svhn" else 1)


def test_unknown_dataset_and_bad_dropout():
    with pytest.raises(ValueError, match="unknown dataset"):
        architectures.build_classifier("imagenet")
    with pytest.raises(ValueError, match="no dropout"):
        architectures.build_luring_component("mnist", dropout=0.2)
