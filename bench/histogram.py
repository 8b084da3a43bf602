"""A fixed-bucket latency histogram in the HDR style: exact below 128 µs, then 64 buckets per
power of two (under 1.6% error), so recording is two integer operations and histograms from
many load-client processes merge by adding counts."""

from __future__ import annotations

from dataclasses import dataclass, field

SUB_BITS = 6  # 64 sub-buckets per power of two
SUB_COUNT = 1 << SUB_BITS
EXACT_BELOW = SUB_COUNT * 2  # values under 128 µs get a bucket each
MAX_MICROS = (1 << 36) - 1  # about 19 hours: anything above is clamped


def bucket_of(micros: int) -> int:
    if micros < EXACT_BELOW:
        return max(micros, 0)
    micros = min(micros, MAX_MICROS)
    shift = micros.bit_length() - SUB_BITS - 1
    return shift * SUB_COUNT + (micros >> shift)


def upper_bound(bucket: int) -> int:
    """The largest value (µs) that falls in `bucket`: percentiles are reported pessimistically."""
    if bucket < EXACT_BELOW:
        return bucket
    shift = bucket // SUB_COUNT - 1
    sub = bucket - shift * SUB_COUNT
    return ((sub + 1) << shift) - 1


BUCKETS = bucket_of(MAX_MICROS) + 1


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * BUCKETS)
    total: int = 0
    max_micros: int = 0

    def record(self, micros: int) -> None:
        self.counts[bucket_of(micros)] += 1
        self.total += 1
        self.max_micros = max(self.max_micros, micros)

    def merge(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total += other.total
        self.max_micros = max(self.max_micros, other.max_micros)

    def percentile(self, fraction: float) -> int | None:
        """The value (µs) at or below which `fraction` of the samples fall; None when empty."""
        if not self.total:
            return None
        rank = max(1, round(fraction * self.total))
        seen = 0
        for bucket, count in enumerate(self.counts):
            seen += count
            if seen >= rank:
                return min(upper_bound(bucket), self.max_micros)
        return self.max_micros

    def to_json(self) -> dict[str, object]:
        """Sparse form ({bucket: count}) for passing between processes."""
        return {
            "buckets": {str(i): c for i, c in enumerate(self.counts) if c},
            "total": self.total,
            "max": self.max_micros,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Histogram:
        histogram = cls()
        buckets = data["buckets"]
        assert isinstance(buckets, dict)
        for bucket, count in buckets.items():
            histogram.counts[int(bucket)] = int(count)
        total, maximum = data["total"], data["max"]
        assert isinstance(total, int)
        assert isinstance(maximum, int)
        histogram.total, histogram.max_micros = total, maximum
        return histogram
