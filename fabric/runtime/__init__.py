"""What every fabric daemon shares: loading its configuration, and the loop's backoff."""
