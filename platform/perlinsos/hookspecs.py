"""The whole plugin contract of Perlinsos.

Every hook a plugin may implement is declared here, grouped by family. Plugins implement them
with ``@perlinsos.hookimpl`` (pluggy). Conventions that hold for every hook:

* Hooks are called through the plugins **enabled for the pilot at hand** (see
  :mod:`perlinsos.plugins`), except the *schema* family, which shapes the deployment as a whole.
* An implementation may return an awaitable; the platform awaits it.
* Hooks marked *first result* stop at the first implementation that returns something other
  than ``None`` (after awaiting). All other hooks collect every implementation's result.
* Hooks that touch many records take **batches** (sequences), never one record per call.
* ``pilot`` is always a :class:`perlinsos.contract.PilotContext`; a plugin reads its own
  settings with ``pilot.settings_for("<plugin name>")``.
* Hook wrappers (``wrapper=True``/``hookwrapper=True``) are refused at start-up: the platform
  calls implementations one by one so that it can await them.

``docs/plugins.md`` has a section with an example for every hook; ``tests/core/test_hookspecs_meta.py``
fails when a hook lacks that section, this docstring, or its own test in ``tests/core/test_hooks.py``.
"""

from __future__ import annotations

import pluggy

from perlinsos import PROJECT_NAME

hookspec = pluggy.HookspecMarker(PROJECT_NAME)

#: Spec functions carrying this attribute are "first result" hooks (see module docstring).
FIRST_RESULT = "perlinsos_first_result"

#: Family of each hook, in the order the docs list them.
FAMILIES: dict[str, list[str]] = {}


#: Spec functions carrying this attribute are called for their effect; results are ignored.
RESULTS_IGNORED = "perlinsos_results_ignored"


def _family(name: str, *, first_result: bool = False, results_ignored: bool | None = None):
    def mark(func):
        FAMILIES.setdefault(name, []).append(func.__name__)
        setattr(func, FIRST_RESULT, first_result)
        setattr(func, RESULTS_IGNORED, name == "events" if results_ignored is None else results_ignored)
        return hookspec(func)

    return mark


# --- identity ---------------------------------------------------------------------------------


@_family("identity")
def identity_providers(pilot):
    """The identity providers this plugin speaks for in ``pilot``, and what each can do there.

    :param pilot: the pilot at hand.
    :returns: an iterable of :class:`~perlinsos.contract.IdentityProvider` (issuer, name and
        capabilities: ``sign_in``, ``consent``, ``person``, ``facts``).

    The platform builds the pilot's trust from these: a token is accepted only when the plugin
    that recognised it declared its issuer with ``sign_in``; ``grant_consent`` goes only to plugins
    declaring ``consent`` for the citizen's consent provider; ``fetch_person`` and
    ``collect_facts`` receive only registrants whose grants a provider they declared (with
    ``person``/``facts``) issued. A pilot that lacks a capability is warned about when it is
    loaded (and ``Pilot.setupWarnings`` names it): it may be rolled out in steps.

    Called synchronously (it only reads settings): an implementation must not return an
    awaitable. All results are merged; one issuer declared with ``sign_in``, ``consent`` or
    ``person`` by two plugins of a pilot is refused when the pilot is loaded.
    """


@_family("identity", first_result=True)
def authenticate(token, pilot):
    """Turn a bearer token into a :class:`~perlinsos.contract.Principal`.

    :param token: the raw token from ``Authorization: Bearer …`` (or the websocket's
        ``connection_init`` payload).
    :param pilot: the pilot the request is for.
    :returns: a ``Principal``, or ``None`` when this plugin does not recognise the token.
        A plugin that recognises the token but finds it invalid (bad signature, expired)
        raises :class:`perlinsos.errors.AuthenticationFailed`.

    First result wins.
    """


@_family("identity", first_result=True)
def fetch_person(nik, consent, pilot):
    """Fetch the population record for ``nik`` under a live consent grant.

    :param nik: the 16-digit NIK, already validated.
    :param consent: the :class:`~perlinsos.contract.ConsentGrant` that allows the access.
    :param pilot: the pilot the access is for.
    :returns: a :class:`~perlinsos.contract.PersonRecord`, or ``None`` when this plugin does not
        know the NIK. Raise :class:`perlinsos.errors.SourceUnavailable` when the source is down.

    First result wins.
    """


@_family("identity", first_result=True)
def grant_consent(token, nik, scopes, purpose, policy_version, pilot):
    """Obtain a consent grant from the identity provider, given by the citizen themselves.

    :param token: the citizen's own bearer token (on a facilitator's phone, still theirs).
    :param nik: the citizen's NIK (from their verified token).
    :param scopes: the data scopes consented to, e.g. ``("person", "facts:income")``.
    :param purpose: why the data is needed, e.g. ``"bansos-selection"``.
    :param policy_version: the privacy notice version the citizen was shown.
    :param pilot: the pilot the consent is for.
    :returns: a :class:`~perlinsos.contract.ConsentGrant` whose ``reference`` is the provider's
        grant id, or ``None`` when this plugin does not handle the token's identity provider.
        Raise :class:`perlinsos.errors.SourceUnavailable` when the provider is down or slow.

    First result wins.
    """


@_family("identity")
def consent_scopes(pilot):
    """The consent scopes this plugin reads under, with what a citizen is told about each.

    :param pilot: the pilot at hand.
    :returns: an iterable of :class:`~perlinsos.contract.ConsentScope` (code such as
        ``"facts:land"``, purpose, citizen-facing text per language).

    ``giveConsent`` offers the union of the pilot's scopes (the ``consentScopes`` query lists them);
    a registration or selection that needs a scope the citizen has not given says which one. A
    code declared twice (by the platform or another plugin), a malformed code or a missing ``id``
    or ``en`` text is refused when the pilot is loaded.

    Called synchronously (it only reads settings): an implementation must not return an
    awaitable. All results are merged.
    """


@_family("identity", results_ignored=True)
def revoke_consent(consent, pilot):
    """Tell the identity provider that a consent was withdrawn on the platform.

    :param consent: the withdrawn :class:`~perlinsos.contract.ConsentGrant`.
    :param pilot: the pilot the consent was for.
    :returns: ignored. The withdrawal already holds on the platform (nothing is fetched under a
        withdrawn consent); a failing plugin is logged and does not undo it.

    Every implementation runs; results are ignored.
    """


# --- data -------------------------------------------------------------------------------------


@_family("data")
def collect_facts(registrants, pilot):
    """Gather facts for a batch of registrants (one call per chunk, never per person).

    :param registrants: a sequence of :class:`~perlinsos.contract.RegistrantRef`, each with the
        consent under which its data may be read.
    :param pilot: the pilot being selected.
    :returns: an iterable of :class:`~perlinsos.contract.Fact`. A source that is down returns
        facts with ``value=None`` and an ``error`` (or raises
        :class:`perlinsos.errors.SourceUnavailable`); criteria then yield UNKNOWN.

    All results are merged.
    """


# --- criteria ---------------------------------------------------------------------------------


@_family("criteria")
def eligibility_criteria(programme, pilot):
    """The eligibility criteria for ``programme`` (e.g. ``"PKH"``) in ``pilot``.

    :param programme: the programme code, one of the pilot's ``programmes``.
    :param pilot: the pilot being selected.
    :returns: an iterable of objects satisfying :class:`~perlinsos.contract.Criterion` (a
        ``code``, a ``version`` and ``evaluate(facts, registrant)`` returning a
        :class:`~perlinsos.contract.CriterionResult`). Every criterion is evaluated, so a citizen
        learns every reason, not only the first.

    All results are merged; two criteria with the same code are a configuration error.
    """


# --- notification -----------------------------------------------------------------------------


@_family("notification")
def notification_channels(pilot):
    """The delivery channels this plugin offers in ``pilot`` (SMS, WhatsApp, e-mail …).

    :param pilot: the pilot notifications are sent for.
    :returns: an iterable of :class:`~perlinsos.contract.Channel`. The portal inbox is built in
        and needs no channel.

    All results are merged; channel names must be unique within a pilot.
    """


# --- appeals ----------------------------------------------------------------------------------


@_family("appeals")
def appeal_grounds(pilot):
    """The grounds on which a decision may be appealed (sanggah) in ``pilot``.

    :param pilot: the pilot of the decisions.
    :returns: an iterable of :class:`~perlinsos.contract.AppealGround`: a code, the reason codes it
        may dispute, the evidence kinds it requires, the comparison fields (field → ``"str"``,
        ``"int"`` or ``"date"``) and a title per language; optionally ``comparison_labels`` (field →
        language → label) and ``required_comparison`` (disputed reason → the fields it requires).

    The ``appealGrounds`` query describes these to frontends (with the evidence kinds and, for a
    decision, which of its reasons each ground applies to), so an appeal form is built from the
    API alone; ``fileAppeal`` refuses an appeal lacking a field ``required_comparison`` names.
    The optional fields were added later and default to empty: older plugins keep working. A code
    declared twice keeps the first declaration.

    All results are merged.
    """


@_family("appeals")
def check_appeal(appeal, decision, principal, pilot):
    """Check an appeal before it is filed.

    :param appeal: the :class:`~perlinsos.contract.AppealDraft`.
    :param decision: the decision appealed (a mapping of its outcome, reasons, registrant NIK).
    :param principal: who is filing.
    :param pilot: the pilot of the decision.
    :returns: an iterable of :class:`~perlinsos.contract.AppealProblem` (empty when acceptable).

    Called whenever the ground is known and fits the disputed reasons, even when the platform's
    own checks found problems: ``fileAppeal`` reports them all at once.

    All results are merged; any problem refuses the appeal.
    """


# --- schema -----------------------------------------------------------------------------------


@_family("schema")
def graphql_schema_parts():
    """GraphQL fields and types this plugin adds to the deployment's schema.

    Called once at start-up for every installed plugin (the schema is the same for every pilot;
    resolvers check whether the pilot at hand enables the plugin). Takes no arguments.

    :returns: a :class:`~perlinsos.contract.SchemaPart` or ``None``. A field name contributed
        twice is a start-up error naming both contributors.

    All results are merged.
    """


@_family("schema", first_result=True)
def plugin_settings_schema():
    """The settings this plugin accepts in a pilot file, as a pydantic model class.

    Called on each plugin on its own. A pilot that enables the plugin has its settings validated
    against the model when it is loaded; a wrong type or unknown key is refused with a message
    naming the field. Return ``None`` (or omit the hook) for a plugin without settings. Takes no
    arguments; anything but a pydantic model class (or ``None``) is a start-up error.

    First result wins (each plugin is asked on its own).
    """


@_family("schema")
def register_routes():
    """HTTP routes this plugin serves beside the API, e.g. a gateway's delivery-report callback.

    Takes no arguments.

    :returns: an iterable of :class:`starlette.routing.Route`; every path must start with
        ``/plugins/<plugin name>/`` (anything else is a start-up error naming the plugin). A
        handler reaches the platform through ``request.app.state.perlinsos`` (``.db``,
        ``.plugins``) and must authenticate its caller itself (a signature, a token).

    Called once at start-up for every installed plugin. All results are merged.
    """


@_family("schema", results_ignored=True)
def register_commands(cli):
    """Add commands to the ``perlinsos`` command line (e.g. ``perlinsos ikd-sim``).

    :param cli: the root :class:`click.Group`; call ``cli.command()`` or ``cli.add_command()``.
        A command name already taken (by the core or another plugin) is a start-up error naming
        the plugin.

    Called once when the command line starts, for every installed plugin.
    Every implementation runs; results are ignored.
    """


# --- events -----------------------------------------------------------------------------------


@_family("events")
def registrations_created(registrations, pilot):
    """Registrations were committed.

    :param registrations: a batch: a sequence of mappings, one per registration.
    :param pilot: the pilot registered for.
    :returns: ignored. Runs after commit; an exception is logged and never undoes the registration.

    Every implementation runs; results are ignored.
    """


@_family("events")
def decisions_made(decisions, pilot):
    """Decisions were committed (a batch from one selection chunk).

    :param decisions: a sequence of mappings with the decision id, registration id, version,
        outcome and reason codes — no personal data.
    :param pilot: the pilot selected for.
    :returns: ignored. Runs after commit; an exception is logged and never undoes the decisions.

    Every implementation runs; results are ignored.
    """


@_family("events")
def appeal_status_changed(appeal, old_status, new_status, pilot):
    """An appeal moved through the review workflow (committed).

    :param appeal: a mapping with the appeal id, decision id, ground and status.
    :param old_status: the previous status (``None`` when just filed).
    :param new_status: the status now.
    :param pilot: the pilot of the decision appealed.
    :returns: ignored. Runs after commit; an exception is logged and never undoes the change.

    Every implementation runs; results are ignored.
    """
