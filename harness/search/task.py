"""What a search works on: the scenario's int8 model and its training data, split into the
samples the short measuring runs train on and a held-out part they are scored on. The
scenario's test split is never read here."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import MctError
from ..model.qmodel import QModel
from ..reference import TrainConfig
from ..scenario import Scenario
from ..workload import Workload, prepare


@dataclass(frozen=True)
class Task:
    scenario: Scenario
    workload: Workload  # prepared with the scenario's data (train count raised) and no sparse update
    cfg: TrainConfig  # the scenario's lr, classifier lr, QAS and rounding; one epoch
    train_x: np.ndarray
    train_y: np.ndarray
    hold_x: np.ndarray
    hold_y: np.ndarray

    @property
    def qmodel(self) -> QModel:
        return self.workload.qmodel


def scenario_config(s: Scenario, epochs: int) -> TrainConfig:
    t = s.training
    assert t is not None
    return TrainConfig(epochs=epochs, lr=t.lr, classifier_lr=t.classifier_lr, qas=t.qas,
                       rounding=t.rounding, seed=t.seed)


def load_task(s: Scenario, samples: int, holdout: int) -> Task:
    """The scenario's model and ``samples + holdout`` of its task's training samples (drawn as
    ``mcutrain run`` draws them, with the count raised), shuffled as the device would see them."""
    if not s.trains or s.model is None or s.dataset is None or s.training is None:
        raise MctError(f"{s.location}: scenario {s.name!r} does not train a model",
                       "search needs a training scenario (model, dataset and training sections)")
    if samples < 1 or holdout < 1:
        raise MctError(f"--samples {samples} / --holdout {holdout}: both must be at least 1",
                       "e.g. --samples 200 --holdout 200")
    data = dataclasses.replace(s.dataset, train=samples + holdout, test=1)
    training = dataclasses.replace(s.training, sparse_update="last_layer")
    w = prepare(s.model, data, training)
    if len(w.train_y) < samples + holdout:
        raise MctError(f"{s.location}: the dataset has {len(w.train_y)} training samples, the search "
                       f"asked for {samples} + {holdout} held out",
                       "lower --samples / --holdout")
    x, y = w.train_x, w.train_y
    return Task(s, w, scenario_config(s, 1), x[:samples], y[:samples],
                x[samples:samples + holdout], y[samples:samples + holdout])
