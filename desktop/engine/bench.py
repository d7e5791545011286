"""Time ``session.run`` on a generated input: percentiles and throughput, warm-up excluded."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .results import percentiles


@dataclass
class BenchReport:
    """Latencies of repeated runs (ms) and what was measured."""

    model: str
    provider: str
    settings: dict
    input_shape: list
    batch: int
    warmup: int
    latencies_ms: list = field(default_factory=list)

    def to_dict(self) -> dict:
        lat = np.asarray(self.latencies_ms, dtype=np.float64)
        p = percentiles(lat, (50, 90, 95, 99))
        mean = float(lat.mean()) if lat.size else float("nan")
        return {
            "model": self.model, "provider": self.provider, "settings": self.settings,
            "input_shape": self.input_shape, "batch": self.batch, "warmup": self.warmup,
            "runs": int(lat.size), **p, "mean": mean,
            "min": float(lat.min()) if lat.size else float("nan"),
            "max": float(lat.max()) if lat.size else float("nan"),
            "throughput": (self.batch * 1000.0 / mean) if lat.size and mean > 0 else 0.0,
            "latencies_ms": [float(x) for x in lat],
        }


def generated_feeds(engine, batch: int = 1, seed: int = 0) -> dict:
    """A plausible input for the engine's model: a preprocessed noise image, or rows of standard normals."""
    rng = np.random.default_rng(seed)
    profile = engine.profile
    if profile.image is not None:
        from PIL import Image

        size = profile.image.output_size() or (256, 256)
        if profile.image.resize and profile.image.resize.mode == "shorter-side" and not profile.image.crop:
            size = (profile.image.resize.shorter, profile.image.resize.shorter)
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        tensor, _ = engine.preprocess(Image.fromarray(pixels, "RGB"))
        return engine.image_feeds([tensor] * batch)
    n = engine.n_features or 1
    return engine.table_feeds(rng.standard_normal((batch, n)))


def bench(engine, runs: int = 100, warmup: int = 10, batch: int = 1, should_stop=None) -> BenchReport:
    """Run the model ``warmup + runs`` times on one generated input and time each run.

    ``should_stop()`` ends early; :func:`iter_bench` yields each run's time as it is measured.
    """
    steps = iter_bench(engine, runs=runs, warmup=warmup, batch=batch, should_stop=should_stop)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def iter_bench(engine, runs: int = 100, warmup: int = 10, batch: int = 1, should_stop=None):
    """A generator of ``(run index, ms)`` for each timed run; it returns the BenchReport."""
    if not engine.batchable:
        batch = 1
    feeds = generated_feeds(engine, batch)
    session = engine.session
    for _ in range(warmup):
        session.run(None, feeds)
    report = BenchReport(model=engine.info.file_name, provider=engine.provider, settings=engine.settings.to_dict(),
                         input_shape=list(next(iter(feeds.values())).shape), batch=batch, warmup=warmup)
    for i in range(runs):
        if should_stop and should_stop():
            break
        t0 = time.perf_counter()
        session.run(None, feeds)
        ms = (time.perf_counter() - t0) * 1e3
        report.latencies_ms.append(ms)
        yield i, ms
    return report
