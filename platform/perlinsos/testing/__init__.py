"""``perlinsos.testing``: a test kit for out-of-tree plugins, installed with the platform and
registered as a pytest plugin (entry point ``pytest11``: ``perlinsos``), so a regional IT team tests
its plugin against the real platform without copying the platform's own test fixtures.

Fixtures (all named ``perlinsos_…``; see :mod:`perlinsos.testing.plugin` for each one's docstring):

* ``perlinsos_database_url``, ``perlinsos_db`` — a migrated, empty database per test: a SQLite file,
  or PostgreSQL when ``PERLINSOS_TEST_DATABASE_URL`` names a server;
* ``perlinsos_plugins`` (override it) and ``perlinsos_plugin_manager`` — your plugins, the installed
  ones and the kit's test sign-in (:mod:`perlinsos.testing.signin`);
* ``perlinsos_pilot_toml`` (override it) and ``perlinsos_pilot`` — a stored pilot and its
  :class:`~perlinsos.contract.PilotContext` (settings validated into your settings model);
* ``perlinsos_app`` and ``perlinsos_client`` — the GraphQL API, and a client that signs in as a
  citizen, a facilitator, a reviewer or the national office;
* ``perlinsos_ikd`` and ``perlinsos_sms`` — the IKD and SMS gateway simulators on free ports;
* ``perlinsos_fake_http_source`` — a fake HTTP data source (your routes) recording its requests.

Plain helpers, for code outside fixtures: :func:`pilot_from_toml`, :func:`store_pilot`,
:func:`plugin_manager`, :func:`fake_http_source`, :class:`GraphQLClient`, :func:`assign_staff`.
"""

from perlinsos.testing.accounts import assign_staff
from perlinsos.testing.client import GraphQLClient
from perlinsos.testing.fakesource import FakeHttpSource, fake_http_source
from perlinsos.testing.pilots import DEFAULT_PILOT_TOML, pilot_from_toml, store_pilot
from perlinsos.testing.plugins import plugin_manager

__all__ = ["DEFAULT_PILOT_TOML", "FakeHttpSource", "GraphQLClient", "assign_staff", "fake_http_source",
           "pilot_from_toml", "plugin_manager", "store_pilot"]
