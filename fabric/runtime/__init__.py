"""What every fabric daemon shares: the loop, its backoff, settings, metrics, logs and API source/sink."""
