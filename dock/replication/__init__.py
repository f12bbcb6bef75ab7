"""Replication of the evidence store to the agency's object store (the central copy)."""
