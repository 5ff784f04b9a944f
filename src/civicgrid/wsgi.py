import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.settings")
application = get_wsgi_application()

# Refuse to serve without the personal-information keys (system checks do not run under gunicorn).
from civicgrid.core import pii  # noqa: E402

pii.check_configuration()
