"""Backups of a running stack, and restores."""
