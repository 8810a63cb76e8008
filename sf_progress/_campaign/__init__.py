"""Campaigns: the journal, the run and its typed results."""
