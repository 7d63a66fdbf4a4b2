"""Adapters: the only modules that touch the outside world (processes, Redis, FRR, nft, the store)."""
