"""Failover scenarios: fault, validate the whole service, wait -- in rounds, with a verdict."""
