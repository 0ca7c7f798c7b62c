"""Which engine goes first: the circuit breaker, the route document in SSM, and the signals that move it
(health probe, passive failures, operator override)."""
