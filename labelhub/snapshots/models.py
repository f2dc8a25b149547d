"""Immutable, content-addressed snapshots of resolved labels (models added with the snapshot issue)."""
