"""Active-learning state: model rounds and embedding caches (added with the active-learning issue)."""
