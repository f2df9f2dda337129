"""Tamper-evident custody: the hash chain, re-hashing the evidence, and signed reports."""
