import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
django_application = get_wsgi_application()

from labelhub.resilience import RetryOnLostConnection  # noqa: E402 - needs the settings above

# A request whose database connection died under it runs once more instead of answering 500.
application = RetryOnLostConnection(django_application)
