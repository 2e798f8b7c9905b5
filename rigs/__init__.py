"""Rig files, test plans, the runner, the results store, reports, and the pytest plugin.
Uses ``gateway`` through its public API only; measurements flow up into the store, never down.
"""
