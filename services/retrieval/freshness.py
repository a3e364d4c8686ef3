"""Index freshness: how long after its document event was published a chunk
became searchable (Chunk.published_at to the write that indexed it)."""

from __future__ import annotations

from opentelemetry import metrics
from opentelemetry.metrics import Histogram

NAME = "ragline.index.freshness"
# Seconds; finer below the 2 s objective, coarse above it for backlogs.
BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


def freshness_histogram() -> Histogram:
    return metrics.get_meter("ragline.retrieval").create_histogram(
        NAME,
        unit="s",
        description="Delay from a document event's publication until its chunks are searchable",
        explicit_bucket_boundaries_advisory=BUCKETS_S,
    )
