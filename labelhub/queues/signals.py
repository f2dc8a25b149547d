"""Signals of the queues app, for the apps above it to connect in their ``AppConfig.ready``.

``housekeeping_tick`` is sent by ``manage.py keep_queues`` at the end of every tick (about once a
second): apps with housekeeping of their own (active learning sweeps rounds whose worker died)
hang it here instead of running one more loop. Receivers must be cheap or throttle themselves; a
failing receiver is logged and never stops the keeper.
"""

from django.dispatch import Signal

housekeeping_tick = Signal()
