"""The API's rate limits: DRF's user and anonymous throttles with a bounded history.

DRF's ``SimpleRateThrottle`` keeps one timestamp per request of the last period in the
cache and reads and rewrites that whole list on every request, so a client allowed
3000/min costs up to 3000 floats pickled (and, with the file cache, compressed and
written to disk) per request. Here the history is counts per slot of 1/60 of the
period (per second for a per-minute rate): at most 61 pairs, whatever the rate.

A slot that overlaps the start of the window still counts whole, so the limit holds over
every window of the period (it may refuse a little early, never admit a request more).
Same rates (``DEFAULT_THROTTLE_RATES``), cache keys, scopes and Retry-After as DRF's.
"""

from __future__ import annotations

from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

SLOTS = 60


class BoundedHistory:
    """``allow_request``/``wait`` of ``SimpleRateThrottle`` over per-slot counts
    (``[[slot, count], …]``, newest first) instead of one timestamp per request."""

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        width = self.duration / SLOTS
        first = int((self.now - self.duration) // width)  # oldest slot still in the window
        history = self.cache.get(self.key) or []
        self.history = [p for p in history if isinstance(p, list) and p[0] >= first]
        self.used = sum(n for _slot, n in self.history)
        if self.used >= self.num_requests:
            return self.throttle_failure()
        slot = int(self.now // width)
        if self.history and self.history[0][0] == slot:
            self.history[0][1] += 1
        else:
            self.history.insert(0, [slot, 1])
        self.cache.set(self.key, self.history, self.duration)
        return True

    def wait(self):
        if self.history:
            oldest_end = (self.history[-1][0] + 1) * (self.duration / SLOTS)
            remaining = max(self.duration - (self.now - oldest_end), 0)
        else:
            remaining = self.duration
        available = self.num_requests - self.used + 1
        if available <= 0:
            return None
        return remaining / float(available)


class UserThrottle(BoundedHistory, UserRateThrottle):
    """Signed-in callers: ``DEFAULT_THROTTLE_RATES["user"]`` per user."""


class AnonThrottle(BoundedHistory, AnonRateThrottle):
    """Anonymous callers: ``DEFAULT_THROTTLE_RATES["anon"]`` per address."""
