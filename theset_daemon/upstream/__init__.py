"""Upstream APIs: one HTTP stack (limiter -> breaker -> retry -> metrics) and three clients."""
