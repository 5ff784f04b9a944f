"""Open311 GeoReport v2 routes, included under "open311/v2/". Every resource ends in .xml or .json;
anything else under the prefix answers 404 in the spec's error format."""

from django.urls import re_path

from civicgrid.events import open311

app_name = "open311"

FORMAT = r"\.(?P<fmt>xml|json)$"

urlpatterns = [
    re_path(r"^services" + FORMAT, open311.services, name="services"),
    re_path(r"^services/(?P<code>[^/]+?)" + FORMAT, open311.service_definition, name="service"),
    re_path(r"^requests" + FORMAT, open311.service_requests, name="requests"),
    re_path(r"^requests/(?P<request_id>[^/]+?)" + FORMAT, open311.service_request, name="request"),
    re_path(r"^tokens/(?P<token>[^/]+?)" + FORMAT, open311.request_token, name="token"),
    re_path(r"^(?P<rest>.*)$", open311.not_found),
]
