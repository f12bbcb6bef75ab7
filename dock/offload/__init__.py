"""Offload: clips off a recorder into the evidence store, proven exact."""
