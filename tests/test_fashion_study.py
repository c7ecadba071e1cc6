"""The fashion2018 preset: the sootla2018 protocol on Fashion-MNIST, tables named by garment."""

from __future__ import annotations

from vaerobust.config import flatten, load_study, to_dict
from vaerobust.data.fashion_mnist import CLASS_NAMES
from vaerobust.report import tables
from vaerobust.studies import RunFacts, get_study


def test_fashion2018_is_sootla2018_on_fashion_mnist() -> None:
    fashion, mnist = load_study("fashion2018"), load_study("sootla2018")
    assert fashion.models == mnist.models and fashion.attack == mnist.attack and fashion.sweep == mnist.sweep
    assert fashion.judge.classifier == mnist.judge.classifier
    for name in fashion.models:
        a, b = flatten(to_dict(fashion.run_config(name))), flatten(to_dict(mnist.run_config(name)))
        assert {k for k in a if a[k] != b[k]} == {"data.name"} and a["data.name"] == "fashion_mnist"
    assert fashion.judge.data.name == "fashion_mnist"
    study = get_study("fashion2018")
    assert study.reference_order == get_study("sootla2018").reference_order and not study.references


def _summary(data_name: str, sweep: dict | None = None) -> dict:
    k = 3
    empty = [[None] * k for _ in range(k)]
    part = {"rate": empty, "hits": empty, "ci_low": empty, "ci_high": empty, "source_marginal": [None] * k,
            "target_marginal": [None] * k, "overall": {"mean": None, "ci_low": None, "ci_high": None}}
    return {"results": {"classes": [0, 6, 9], "n_pairs_total": empty, "n_kept": empty, "ignore": part, "target": part},
            "data": {"name": data_name}, "sweep": sweep or {}}


def test_class_labels_name_garments_and_keep_digits() -> None:
    assert tables.class_labels(_summary("fashion_mnist")) == [CLASS_NAMES[0], CLASS_NAMES[6], CLASS_NAMES[9]]
    assert tables.class_labels(_summary("fashion_mnist")) == ["T-shirt/top", "Shirt", "Ankle boot"]
    assert tables.class_labels(_summary("mnist")) == ["0", "6", "9"]
    assert tables.class_labels(_summary("no_such_data")) == ["0", "6", "9"]
    assert tables.class_labels(_summary("mnist")["results"]) == ["0", "6", "9"]  # a bare results mapping
    assert tables.pair_table(_summary("fashion_mnist")).header == ["source \\ target", "T-shirt/top", "Shirt", "Ankle boot"]
    assert tables.marginal_table(_summary("fashion_mnist")).header[1:4] == ["T-shirt/top", "Shirt", "Ankle boot"]


def test_protocol_check_compares_with_the_fashion_preset() -> None:
    study = get_study("fashion2018")
    cfg = to_dict(load_study("fashion2018").run_config("entangled"))
    reduced, other = study.differences([RunFacts("entangled", "entangled", cfg)])
    assert reduced == [] and other == []
    mnist_cfg = to_dict(load_study("sootla2018").run_config("entangled"))
    reduced, _ = study.differences([RunFacts("entangled", "entangled", mnist_cfg)])
    assert reduced == ["entangled: data.name = mnist (protocol: fashion_mnist)"]
    cfg["train"]["steps"] = 10_000
    reduced, _ = study.differences([RunFacts("entangled", "entangled", cfg)])
    assert reduced == ["entangled: train.steps = 10000 (thesis: 100000)"]
