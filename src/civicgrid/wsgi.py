import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.settings")
application = get_wsgi_application()

# Refuse to serve without the personal-information keys (system checks do not run under gunicorn).
from civicgrid.core import pii  # noqa: E402

pii.check_configuration()

# What the process has loaded so far (Django, the apps, the URL map) lives as long as the process: keep it
# out of the cyclic collector's full passes, which otherwise walk it again and again (about 25 ms each, in
# about one request in eighty, measured with the page benchmark). Under gunicorn with `preload_app` the
# frozen objects are also shared copy-on-write by the workers.
import gc  # noqa: E402

gc.collect()
gc.freeze()
