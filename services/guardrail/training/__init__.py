"""Training of the injection classifier (`make train-guardrail`)."""
