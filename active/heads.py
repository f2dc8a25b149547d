"""Small torch heads trained on cached embeddings, with the sklearn-style faces modAL expects.

A round trains a linear or one-hidden-layer MLP head on a few hundred to a few hundred thousand
labelled vectors, then scores a pool of up to millions. Training is full-batch for small sets
(deterministic and fast) and mini-batch beyond ``FULL_BATCH_LIMIT``; scoring streams the pool in
chunks so a memory-mapped fp16 store is never copied whole into float32.

``TorchHeadClassifier`` speaks the scikit-learn classifier protocol (fit / predict / predict_proba /
``classes_`` / get_params / set_params / score, and its tags) so modAL's query-strategy functions and
sklearn's ``clone`` can use it; ``HeadCommittee`` exposes what modAL's disagreement measures read from
a committee (``len``, ``vote``, ``predict_proba``, ``classes_``). Neither patches modAL.

The protocol is spoken, not inherited from ``sklearn.base``: web processes import this module (the
task definitions reach it) and must not load scikit-learn to do so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

FULL_BATCH_LIMIT = 20000
SCORE_CHUNK = 131072
# Below this many input floats per step, extra CPU threads cost more in synchronisation than they
# save (measured: 80 × 256 inputs train ~10× faster on one thread than on two busy cores).
SMALL_WORK = 2_000_000


@contextmanager
def cpu_threads_for(work: int, device: str) -> Iterator[None]:
    """Run small CPU work on one thread; leave large work (and CUDA) to torch's defaults."""
    import torch  # heavy: keeps torch out of web processes

    if device != "cpu" or work >= SMALL_WORK:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Inverse-frequency weights (``n / (k · count)``), 0 for absent classes, so rare classes count as much."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(n_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)


def head_config(device: str, dim: int) -> dict:
    """Head settings per backbone.

    On MiniLM vectors a linear head matches scikit-learn's balanced logistic regression (WordNet
    glosses, 1,000 labels: 0.86 vs 0.862 held-out) and keeps scoring a million items to one matrix
    product; weight decay 1e-2 beat 1e-4 there (0.86 vs 0.84). Pixel features gain from one hidden layer.
    """
    text = dim >= 384
    return {
        "hidden": 0 if text else 128,
        "epochs": 150,
        "lr": 0.01,
        "weight_decay": 1e-2 if text else 1e-4,
        "device": device,
    }


class TorchHeadClassifier:
    """A torch softmax head with the scikit-learn classifier interface."""

    _estimator_type = "classifier"
    #: The constructor's parameters, as sklearn's ``get_params`` reports them.
    PARAMS = (
        "n_classes",
        "hidden",
        "epochs",
        "lr",
        "weight_decay",
        "batch_size",
        "seed",
        "device",
        "balanced",
    )

    def __init__(
        self,
        n_classes: int,
        hidden: int = 0,
        epochs: int = 200,
        lr: float = 0.01,
        weight_decay: float = 1e-4,
        batch_size: int = 4096,
        seed: int = 0,
        device: str = "cpu",
        balanced: bool = True,
    ):
        self.n_classes = n_classes
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.balanced = balanced

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self.PARAMS}

    def set_params(self, **params) -> TorchHeadClassifier:
        unknown = set(params) - set(self.PARAMS)
        if unknown:
            raise ValueError(f"TorchHeadClassifier has no parameter(s) {', '.join(sorted(unknown))}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        from sklearn.utils import ClassifierTags, Tags, TargetTags  # heavy: only sklearn's own tools ask

        return Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
        )

    def __repr__(self) -> str:
        return f"TorchHeadClassifier({', '.join(f'{k}={v!r}' for k, v in self.get_params().items())})"

    def score(self, X, y) -> float:
        """Mean accuracy, as ``ClassifierMixin.score``."""
        return float((self.predict(X) == np.asarray(y)).mean())

    def _build(self, dim: int):
        import torch  # heavy: keeps torch out of web processes

        if self.hidden:
            return torch.nn.Sequential(
                torch.nn.Linear(dim, self.hidden),
                torch.nn.ReLU(),
                torch.nn.Linear(self.hidden, self.n_classes),
            )
        return torch.nn.Linear(dim, self.n_classes)

    def fit(self, X, y, sample_weight=None):
        X = np.asarray(X, dtype=np.float32)
        with cpu_threads_for(
            X.size if len(X) <= FULL_BATCH_LIMIT else self.batch_size * X.shape[1], self.device
        ):
            return self._fit(X, y)

    def _fit(self, X, y):
        import torch  # heavy: keeps torch out of web processes

        y = np.asarray(y, dtype=np.int64)
        if len(X) == 0:
            raise ValueError("cannot train a head on zero labelled items")
        self.classes_ = np.arange(self.n_classes)
        self.n_features_in_ = X.shape[1]
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        model = self._build(X.shape[1]).to(self.device)
        # Standardise inputs with the training statistics (baked into the head, so scoring needs none).
        self.mean_ = X.mean(axis=0)
        std = X.std(axis=0)
        # Constant columns (blank image borders) keep scale 1: dividing by ~0 would blow up unseen values.
        self.scale_ = np.where(std < 1e-3, 1.0, std).astype(np.float32)
        Xt = torch.from_numpy((X - self.mean_) / self.scale_).to(self.device)
        yt = torch.from_numpy(y).to(self.device)
        weights = class_weights(y, self.n_classes) if self.balanced else np.ones(self.n_classes, np.float32)
        loss_fn = torch.nn.CrossEntropyLoss(weight=torch.from_numpy(weights).to(self.device))
        optimiser = torch.optim.Adam(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        model.train()
        n = len(Xt)
        for _ in range(self.epochs):
            if n <= FULL_BATCH_LIMIT:
                batches = [slice(None)]
            else:
                perm = torch.randperm(n, generator=generator).to(self.device)
                batches = [perm[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
            for rows in batches:
                optimiser.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xt[rows]), yt[rows])
                loss.backward()
                optimiser.step()
        model.eval()
        self._fold_standardisation(model)
        self._silence_unseen_classes(model, np.bincount(y, minlength=self.n_classes) > 0)
        self.model_ = model
        self.final_loss_ = float(loss.detach().cpu())
        return self

    def _fold_standardisation(self, model) -> None:
        """Bake ``(x - mean) / scale`` into the first layer: W' = W / scale, b' = b - W' · mean.

        Scoring then reads raw vectors straight from the store; on a million-row pool the separate
        subtract-and-divide pass cost more than the matrix product itself.
        """
        import torch  # heavy: keeps torch out of web processes

        first = model if isinstance(model, torch.nn.Linear) else model[0]
        with torch.no_grad():
            first.weight.div_(torch.from_numpy(self.scale_).to(first.weight.device))
            first.bias.sub_(first.weight @ torch.from_numpy(self.mean_).to(first.weight.device))

    def _silence_unseen_classes(self, model, present: np.ndarray) -> None:
        """Give classes absent from the training labels probability ~0.

        Their logits were never trained, so on items unlike the training set they can come out on
        top: the suggestion would name a class the head has never seen, and entropy would favour
        items that are merely far from everything. The class-balance target, not the head, is what
        steers labelers towards missing classes.
        """
        import torch  # heavy: keeps torch out of web processes

        self.present_classes_ = present
        if present.all():
            return
        last = model if isinstance(model, torch.nn.Linear) else model[-1]
        absent = torch.from_numpy(~present).to(last.weight.device)
        with torch.no_grad():
            last.weight[absent] = 0
            last.bias[absent] = -1e4

    def predict_proba_tensor(self, X, chunk: int = SCORE_CHUNK):
        """Class probabilities as a float32 tensor on the head's device, streamed in chunks."""
        import torch  # heavy: keeps torch out of web processes

        parts = []
        with torch.inference_mode(), cpu_threads_for(len(X) * X.shape[1], self.device):
            for start in range(0, len(X), chunk):
                # A copy: memory-mapped rows are read-only, and fp16 rows travel to the device at half the bytes.
                block = torch.from_numpy(np.array(X[start : start + chunk], copy=True)).to(self.device)
                block = block.float()
                parts.append(torch.softmax(self.model_(block), dim=1))
        if not parts:
            return torch.zeros((0, self.n_classes), device=self.device)
        return torch.cat(parts)

    def predict_proba(self, X) -> np.ndarray:
        return self.predict_proba_tensor(X).cpu().numpy().astype(np.float64)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class HeadLearner:
    """What modAL's ranked batch reads from a learner: its estimator's probabilities and training set."""

    on_transformed = False

    def __init__(self, estimator: TorchHeadClassifier, X_training: np.ndarray | None):
        self.estimator = estimator
        self.X_training = X_training

    def predict_proba(self, X, **kwargs) -> np.ndarray:
        return self.estimator.predict_proba(X)

    def transform_without_estimating(self, X):
        return X


class HeadCommittee:
    """A bagged committee of heads (query-by-committee), shaped like a modAL ``Committee``."""

    def __init__(self, members: list[TorchHeadClassifier]):
        self.learner_list = members
        self.classes_ = members[0].classes_
        self.n_classes_ = len(self.classes_)

    def __len__(self) -> int:
        return len(self.learner_list)

    def vote(self, X, **kwargs) -> np.ndarray:
        return np.stack([m.predict(X) for m in self.learner_list], axis=1)

    def vote_proba(self, X, **kwargs) -> np.ndarray:
        return np.stack([m.predict_proba(X) for m in self.learner_list], axis=1)

    def predict_proba(self, X, **kwargs) -> np.ndarray:
        return self.vote_proba(X).mean(axis=1)


def train_committee(
    X: np.ndarray, y: np.ndarray, n_classes: int, size: int = 5, *, seed: int = 0, **head_kwargs
) -> HeadCommittee:
    """``size`` heads on bootstrap resamples of the labelled set (different seeds, same classes)."""
    rng = np.random.default_rng(seed)
    members = []
    for i in range(size):
        rows = rng.integers(0, len(X), len(X))
        members.append(TorchHeadClassifier(n_classes, seed=seed + i + 1, **head_kwargs).fit(X[rows], y[rows]))
    return HeadCommittee(members)
