"""Train the injection classifier and write its weights and model card.

    python -m services.guardrail.training [--out services/guardrail/model]

Deterministic: the corpus comes from fixed templates and a fixed seed, the
validation split from a hash of each text, and the optimizer is full-batch,
so the same code gives the same weights. The validation split (every fifth
text by hash, per source) picks the threshold: the lowest score at which at
most 1% of the honest validation texts would be flagged.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import zlib
from pathlib import Path

import numpy as np

from services.guardrail.classifier import CARD_FILE, MODEL_DIR, WEIGHTS_FILE
from services.guardrail.features import DIMENSION, featurize
from services.guardrail.training.corpus import ATTACK, Example, build

SEED = 7
EPOCHS = 300
LEARNING_RATE = 0.05
L2 = 1e-4
MAX_FALSE_POSITIVE_RATE = 0.01


class SparseRows:
    """Rows of hashed features, for full-batch gradient steps without scipy."""

    def __init__(self, texts: list[str]):
        features = [featurize(text) for text in texts]
        self.indices = np.concatenate([f[0] for f in features])
        self.values = np.concatenate([f[1] for f in features]).astype(np.float64)
        lengths = np.array([len(f[0]) for f in features])
        self.rows = np.repeat(np.arange(len(texts)), lengths)
        self.count = len(texts)

    def dot(self, weights: np.ndarray) -> np.ndarray:
        return np.bincount(self.rows, weights=weights[self.indices] * self.values, minlength=self.count)

    def transpose_dot(self, per_row: np.ndarray) -> np.ndarray:
        return np.bincount(self.indices, weights=per_row[self.rows] * self.values, minlength=DIMENSION)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


def train(rows: SparseRows, labels: np.ndarray, epochs: int = EPOCHS) -> tuple[np.ndarray, float]:
    """Class-balanced, L2-regularized logistic regression, fitted with Adam."""
    positives = labels.sum()
    sample_weight = np.where(labels == 1, 0.5 / positives, 0.5 / (len(labels) - positives))
    weights = np.zeros(DIMENSION)
    bias = 0.0
    moment = np.zeros(DIMENSION + 1)
    velocity = np.zeros(DIMENSION + 1)
    beta1, beta2, epsilon = 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        error = (_sigmoid(rows.dot(weights) + bias) - labels) * sample_weight
        gradient = np.append(rows.transpose_dot(error) + L2 * weights, error.sum())
        moment = beta1 * moment + (1 - beta1) * gradient
        velocity = beta2 * velocity + (1 - beta2) * gradient**2
        update = LEARNING_RATE * (moment / (1 - beta1**step)) / (np.sqrt(velocity / (1 - beta2**step)) + epsilon)
        weights -= update[:-1]
        bias -= update[-1]
    return weights, bias


def _in_validation(example: Example) -> bool:
    return zlib.crc32(example.text.encode()) % 5 == 0


def _threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    honest = np.sort(scores[labels == 0])
    allowed = int(np.floor(MAX_FALSE_POSITIVE_RATE * len(honest)))
    # The threshold sits just above the highest honest score that may not be flagged.
    return float(min(0.99, max(0.5, honest[len(honest) - 1 - allowed] + 1e-3))) if len(honest) else 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=MODEL_DIR)
    arguments = parser.parse_args()

    corpus = build(SEED)
    training = [example for example in corpus if not _in_validation(example)]
    validation = [example for example in corpus if _in_validation(example)]
    labels = np.array([example.label for example in training], dtype=np.float64)
    weights, bias = train(SparseRows([example.text for example in training]), labels)

    validation_labels = np.array([example.label for example in validation])
    scores = _sigmoid(SparseRows([example.text for example in validation]).dot(weights) + bias)
    threshold = _threshold(scores, validation_labels)
    flagged = scores >= threshold
    weights32 = weights.astype(np.float32)
    digest = hashlib.sha256(weights32.tobytes() + np.float32(bias).tobytes()).hexdigest()[:12]
    card = {
        "version": f"injection-lr-{digest}",
        "threshold": round(threshold, 4),
        "features": "hashed char 3-5-grams and word 1-2-grams, 2^18 buckets (services/guardrail/features.py)",
        "corpus": {
            "seed": SEED,
            "examples": len(corpus),
            "attacks": sum(example.label == ATTACK for example in corpus),
            "digest": hashlib.sha256("\n".join(f"{e.label}\t{e.text}" for e in corpus).encode()).hexdigest()[:12],
        },
        "validation": {
            "examples": len(validation),
            "detection_rate": round(float(flagged[validation_labels == 1].mean()), 4),
            "false_positive_rate": round(float(flagged[validation_labels == 0].mean()), 4),
        },
    }
    arguments.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(arguments.out / WEIGHTS_FILE, weights=weights32, bias=np.float32(bias))
    (arguments.out / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
