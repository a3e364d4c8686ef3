"""The injection classifier: logistic regression on hashed n-grams, as a detector.

Rules catch the phrasings they name; the classifier catches paraphrases of
them. It scores every sentence of a text and the whole of a short text, and
reports the best score when it reaches the model's threshold (the policy may
raise or lower it), at the best-scoring sentence. Trained by `make train-guardrail`
(services/guardrail/training); the weights are committed next to this file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from services.guardrail.features import DIMENSION, featurize
from services.guardrail.findings import Finding

MODEL_DIR = Path(__file__).resolve().parent / "model"
WEIGHTS_FILE = "injection-classifier.npz"
CARD_FILE = "injection-classifier.json"
CHECK = "injection.classifier"

# A window is a sentence or a line; a text this short is also read whole.
_WINDOW = re.compile(r"[^.!?\n]+[.!?]*")
_WHOLE_TEXT_CHARS = 1200
_MIN_WINDOW_WORDS = 3
# Only findings at least this likely are reported; the policy threshold then decides.
REPORT_FLOOR = 0.5


@dataclass(frozen=True)
class ModelCard:
    version: str
    threshold: float


class InjectionClassifier:
    def __init__(self, weights: np.ndarray, bias: float, card: ModelCard):
        if weights.shape != (DIMENSION,):
            raise ValueError(f"classifier weights have shape {weights.shape}, expected ({DIMENSION},): retrain")
        self._weights = weights.astype(np.float32)
        self._bias = np.float32(bias)
        self.card = card

    @classmethod
    def load(cls, directory: Path = MODEL_DIR) -> "InjectionClassifier":
        with np.load(directory / WEIGHTS_FILE) as archive:
            weights, bias = archive["weights"], float(archive["bias"])
        card = json.loads((directory / CARD_FILE).read_text(encoding="utf-8"))
        return cls(weights, bias, ModelCard(card["version"], float(card["threshold"])))

    def score(self, text: str) -> float:
        indices, values = featurize(text)
        logit = float(self._weights[indices] @ values) + float(self._bias)
        return 1.0 / (1.0 + np.exp(-logit))

    def __call__(self, text: str) -> Iterator[Finding]:
        best: tuple[float, int, int] | None = None
        # A text of a word or two carries too little for a verdict: "Mail jane@corp.example" is no attack.
        windows = [(m.start(), m.end()) for m in _WINDOW.finditer(text) if len(m.group().split()) >= _MIN_WINDOW_WORDS]
        for start, end in windows:
            score = self.score(text[start:end])
            if best is None or score > best[0]:
                best = (score, start, end)
        if best is not None and len(windows) > 1 and len(text) <= _WHOLE_TEXT_CHARS:
            # The whole text may score higher than any sentence; the finding still points at the most
            # suspicious sentence, so that what is matched against it (relayed instructions) is not every sentence.
            best = (max(best[0], self.score(text)), best[1], best[2])
        if best is not None and best[0] >= REPORT_FLOOR:
            score, start, end = best
            yield Finding(CHECK, start, end, round(score, 3), "text classified as an instruction to the model")
