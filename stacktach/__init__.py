"""Helpers shared by every StackTach component.

Kept deliberately small: the exception root, plugin loading by name, timestamp
parsing and the typed JSON encoding. Nothing here imports another package of ours.
"""
