"""Which torch device a worker uses: ``auto`` picks CUDA when present, CPU otherwise."""

from __future__ import annotations

from django.conf import settings

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def default_device() -> str:
    """This process's device policy: ``al_worker --device`` sets it, else ``LABELHUB_AL_DEVICE``."""
    return getattr(settings, "LABELHUB_AL_DEVICE", "auto")


def resolve_device(requested: str | None) -> str:
    """Map ``auto|cpu|cuda`` to a concrete torch device name, failing clearly when CUDA is asked for but absent.

    torch is imported here, not at module level, so web processes importing this app stay light.
    """
    import torch  # heavy: keeps torch out of web processes

    requested = (requested or "auto").lower()
    if requested not in DEVICE_CHOICES:
        raise ValueError(f"device: {requested!r} is not one of {', '.join(DEVICE_CHOICES)}")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' was requested but torch sees no CUDA device on this machine")
    return requested
