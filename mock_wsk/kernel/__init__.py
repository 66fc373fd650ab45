"""Kernel DDIs with their WDK names and parameter order, running on the simulated machine."""
