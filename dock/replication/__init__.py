"""Replication of the evidence store to the agency's object store (central copy, issue 12)."""
