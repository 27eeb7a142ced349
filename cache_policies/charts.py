"""Chart geometry for the stats page: computed here, drawn by the template as inline SVG (no JavaScript)."""

from dataclasses import dataclass, field

from cache_policies.models import Layer
from cache_policies.stats_selectors import SeriesPoint, SimilarityBucket

LEFT, RIGHT, TOP, BOTTOM = 44, 12, 10, 24
X_LABELS = 6


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    name: str  # the layer; stats.css colours it
    segments: list[str]  # SVG polyline points "x,y x,y", broken where a bucket had no lookups
    dots: list[Dot]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    lines: list[Line] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)

    @property
    def left(self) -> int:
        return LEFT

    @property
    def right(self) -> int:
        return self.width - RIGHT


def _y(value: float, top: float, height: int) -> float:
    """value in 0..top → SVG y, 0 at the bottom of the plot."""
    plot = height - TOP - BOTTOM
    return round(height - BOTTOM - (value / top if top else 0) * plot, 1)


def _every(n: int) -> int:
    return max(1, -(-n // X_LABELS))


def _ratio_line(layer: str, series: list[SeriesPoint], xs: list[float], time_format: str, height: int) -> Line:
    runs, dots = [[]], []
    for x, point in zip(xs, series):
        stats = point.window.layer(layer)
        if stats.hit_ratio is None:
            runs.append([])
            continue
        y = _y(stats.hit_ratio, 1, height)
        runs[-1].append(f"{x},{y}")
        dots.append(Dot(x=x, y=y, title=f"{layer} {point.start:{time_format}}: {stats.hit_ratio:.0%} of {stats.lookups}"))
    # A lone point has no neighbour to join: its dot alone shows it.
    segments = [" ".join(run) for run in runs if len(run) > 1]
    return Line(name=layer, segments=segments, dots=dots)


def ratio_chart(*, series: list[SeriesPoint], time_format: str, width: int = 720, height: int = 220) -> Chart:
    """Hit ratio per layer over time, one line per layer."""
    step = (width - LEFT - RIGHT) / max(len(series) - 1, 1)
    xs = [round(LEFT + i * step, 1) for i in range(len(series))]
    return Chart(
        width=width,
        height=height,
        x_ticks=[Tick(xs[i], f"{series[i].start:{time_format}}") for i in range(0, len(series), _every(len(series)))],
        y_ticks=[Tick(_y(r, 1, height), f"{r:.0%}") for r in (0, 0.5, 1)],
        lines=[_ratio_line(layer, series, xs, time_format, height) for layer in Layer.values],
    )


def histogram_chart(*, buckets: list[SimilarityBucket], width: int = 720, height: int = 180) -> Chart:
    """One bar per similarity bucket that has semantic hits."""
    top = max((count for _, count in buckets), default=0)
    slot = (width - LEFT - RIGHT) / max(len(buckets), 1)
    bars = [
        Bar(
            x=round(LEFT + i * slot + slot * 0.1, 1), y=_y(count, top, height), width=round(slot * 0.8, 1),
            height=round(height - BOTTOM - _y(count, top, height), 1), title=f"{bucket:.2f}: {count}",
        )
        for i, (bucket, count) in enumerate(buckets)
    ]
    return Chart(
        width=width,
        height=height,
        x_ticks=[Tick(round(bars[i].x + bars[i].width / 2, 1), f"{buckets[i][0]:.2f}")
                 for i in range(0, len(buckets), _every(len(buckets)))],
        y_ticks=[Tick(_y(v, top, height), str(v)) for v in sorted({0, top})],
        bars=bars,
    )
