"""Retry policy for netclient's Python bindings (sample source for Lectern)."""

DEFAULT_TIMEOUT_S = 30


def backoff_delays(max_retries, first_delay=0.1):
    """Yield the delay before each retry: doubling from first_delay."""
    delay = first_delay
    for _ in range(max_retries):
        yield delay
        delay *= 2


def should_retry(error):
    """Retry on a timeout or a reset connection, never on a 4xx answer."""
    return error in ("timeout", "connection reset")
