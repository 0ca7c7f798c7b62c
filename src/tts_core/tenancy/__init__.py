"""What one API key may use: its budget per day and its jobs in flight (`budget`), its voices (voices.registry
counts them). Layer 3, beside engines and voices: it knows the platform only."""
