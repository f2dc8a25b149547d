from django.apps import AppConfig


class ProductionConfig(AppConfig):
    name = "labelhub.production"
    label = "production"
    verbose_name = "Production inbox"

    def ready(self) -> None:
        from labelhub.production.receivers import housekeep_on_tick
        from labelhub.queues.signals import housekeeping_tick

        # keep_queues' tick re-queues scoring a dead worker left behind and purges old captures.
        housekeeping_tick.connect(housekeep_on_tick, dispatch_uid="production-housekeeping")
