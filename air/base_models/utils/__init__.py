"""Helpers shared by the backbone adapters."""
