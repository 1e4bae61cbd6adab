"""Writes for trading: one module per concern."""
