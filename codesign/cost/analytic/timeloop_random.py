"""The random numbers timeloop-mapper's random-pruned search draws, bit for bit.

Timeloop's `RandomGenerator128` wraps `std::default_random_engine` (libstdc++: `minstd_rand0`, seeded
with its default 1) and `std::uniform_int_distribution<uint64_t>`; each generator owns its own engine,
so every mapper thread and every generator starts from the same raw sequence. libstdc++ turns raw draws
into a range with integer rejection sampling (bits/uniform_int_dist.h): ranges narrower than the engine's
are scaled down (draws past the largest multiple of the range are rejected), wider ones are built from a
recursive "high" draw times the engine's range plus one raw "low" draw, retried on overflow.
"""

from __future__ import annotations

from collections.abc import Callable

_MODULUS = 2147483647  # minstd_rand0: x <- 16807 x mod (2^31 - 1)
_MULTIPLIER = 16807
_ENGINE_MIN = 1  # the engine's outputs are 1 .. 2^31 - 2
_ENGINE_RANGE = _MODULUS - 2  # max - min
_U64 = (1 << 64) - 1  # libstdc++ does this arithmetic in unsigned 64 bits


class MinStdRand0:
    """`std::minstd_rand0` with the default seed (1)."""

    __slots__ = ("state",)

    def __init__(self, seed: int = 1) -> None:
        self.state = seed % _MODULUS or 1

    def __call__(self) -> int:
        """The next raw draw."""
        self.state = self.state * _MULTIPLIER % _MODULUS
        return self.state


def uniform_int(engine: MinStdRand0, low: int, high: int) -> int:
    """libstdc++'s `uniform_int_distribution<uint64_t>(low, high)(engine)`."""
    span = high - low
    if span < _ENGINE_RANGE:
        # Scale down: reject draws in the incomplete last bucket.
        buckets = span + 1
        scaling = _ENGINE_RANGE // buckets
        past = buckets * scaling
        value = engine() - _ENGINE_MIN
        while value >= past:
            value = engine() - _ENGINE_MIN
        return low + value // scaling
    if span == _ENGINE_RANGE:
        return low + engine() - _ENGINE_MIN
    # Scale up: high part first (recursively), then one raw low part; retry if it overflows the range.
    step = _ENGINE_RANGE + 1
    while True:
        base = step * uniform_int(engine, 0, span // step) & _U64
        value = base + engine() - _ENGINE_MIN & _U64
        if value <= span and value >= base:
            return low + value


class RandomGenerator128:
    """Timeloop's `RandomGenerator128(bound)`: uniform integers in [0, bound), its own engine."""

    __slots__ = ("_fast", "engine", "high_high", "low_high", "two")

    def __init__(self, bound: int) -> None:
        self.engine = MinStdRand0()
        self.two = bound > _U64
        self.low_high = _U64 if self.two else bound - 1
        self.high_high = (bound // _U64 - 1) & _U64
        self._fast = _plan(self.low_high) if not self.two else None

    def next(self) -> int:
        """The next draw (`Next()`)."""
        if self._fast is not None:
            return self._fast(self.engine)
        low = uniform_int(self.engine, 0, self.low_high)
        if not self.two:
            return low
        return low + uniform_int(self.engine, 0, self.high_high) * _U64

    def take(self, count: int) -> list[int]:
        """The next `count` draws."""
        return [self.next() for _ in range(count)]


def _plan(span: int) -> Callable[[MinStdRand0], int] | None:
    """`uniform_int(engine, 0, span)` with its constants worked out once (ranges below 2^62); the
    engine's recurrence is inlined, this being the mapper's innermost loop."""
    if span < _ENGINE_RANGE:
        scaling = _ENGINE_RANGE // (span + 1)
        past = (span + 1) * scaling + _ENGINE_MIN  # compared with raw draws

        def down(engine: MinStdRand0) -> int:
            x = engine.state * _MULTIPLIER % _MODULUS
            while x >= past:
                x = x * _MULTIPLIER % _MODULUS
            engine.state = x
            return (x - _ENGINE_MIN) // scaling

        return down
    if span == _ENGINE_RANGE:
        return lambda engine: engine() - _ENGINE_MIN
    step = _ENGINE_RANGE + 1
    high = span // step
    if span >= 1 << 62 or high >= _ENGINE_RANGE:
        return None
    high_plan = _plan(high)
    assert high_plan is not None  # high < the engine's range: a scaled-down draw

    def up(engine: MinStdRand0) -> int:
        # No 64-bit wrap-around below 2^62, so the retry is just value > span.
        while True:
            base = step * high_plan(engine)
            x = engine.state = engine.state * _MULTIPLIER % _MODULUS
            value = base + x - _ENGINE_MIN
            if value <= span:
                return value

    return up
