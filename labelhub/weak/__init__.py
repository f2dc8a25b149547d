"""Weak supervision: labeling functions that vote on the pool, their label matrix, and the label model."""
