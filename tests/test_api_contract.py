"""The API's contract, checked by a real client: schemathesis generates requests for every operation of the
OpenAPI schema the site serves (/api/v1/schema/) and checks every answer against it (no server error, a
documented status code, content type and headers, a body matching its schema), through WSGI. Bounded and
derandomised, so the run is quick and the same on every machine; run on SQLite and PostgreSQL alike."""

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests import factories
from tests.public_factories import World, grow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


# Loaded once, as the site serves it (the schema is built from the code; it reads no data).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def world(db, settings):
    settings.AITRACKER_API_RATE = ""  # the rate limit has tests of its own (tests/test_api.py)
    cache.clear()
    world = grow(World(), 2)
    # A check and a draft: neither a status nor anything unpublished may break or leak into an answer.
    factories.make_update(commitment=world.commitments[0], state="published", kind="check")
    factories.make_update(commitment=world.commitments[0], state="draft")
    # The requests go straight to the WSGI application, whose request signals would close the test's
    # connection (in its transaction) after each one, as Django's own test client prevents.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield world
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=12,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_keeps_its_contract(case):
    # Straight through WSGI nothing decompresses a gzip body, as an HTTP client would: ask for none.
    case.call_and_validate(checks=CHECKS, headers={"Accept-Encoding": "identity"})
