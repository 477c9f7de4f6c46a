"""Pilot files: TOML in, a validated :class:`PilotSpec` out, or one clear error naming the field."""

from __future__ import annotations

import re
import tomllib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from perlinsos import regions
from perlinsos.contract import PilotContext
from perlinsos.errors import ConfigurationError, PluginError
from perlinsos.idnumbers import PROVINCE_CODES
from perlinsos.plugins import PluginManager, PluginSettingsError, UnknownPlugin
from perlinsos.ratelimits import Limits

PROGRAMMES = ("PKH", "SEMBAKO", "PBI_JK")
LANGUAGES = ("id", "en")
_REGION = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,39}$")

#: How a secret that only fits development (the simulators, the bundled pilot, a plugin's default)
#: begins. Production refuses it: in a pilot when loaded or changed, in a stored pilot at start-up.
DEV_SECRET_PREFIX = "dev-only-"


class PilotFileError(ConfigurationError):
    """A pilot file is unreadable or invalid. ``problems`` lists (field, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        detail = "; ".join(f"{f}: {m}" for f, m in problems)
        super().__init__(f"pilot {source}: {detail}")
        self.source = source
        self.problems = problems


class Phases(BaseModel):
    model_config = ConfigDict(extra="forbid")

    registration_opens: datetime
    registration_closes: datetime
    appeal_opens: datetime | None = None
    appeal_closes: datetime | None = None

    @field_validator("*")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone offset, e.g. 2025-08-01T00:00:00+07:00")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Phases:
        if self.registration_closes <= self.registration_opens:
            raise ValueError("registration_closes must be after registration_opens")
        if (self.appeal_opens is None) != (self.appeal_closes is None):
            raise ValueError("give both appeal_opens and appeal_closes, or neither")
        if self.appeal_opens and self.appeal_closes and self.appeal_closes <= self.appeal_opens:
            raise ValueError("appeal_closes must be after appeal_opens")
        return self


class NotificationSettings(BaseModel):
    """[notification]: which channels bring a decision to a citizen, in order. ``facilitator`` is
    built in: a decision the channels before it failed to deliver becomes a task on the worklist
    of the village's facilitators (perlinsos.facilitation). Not given: every enabled channel."""

    model_config = ConfigDict(extra="forbid")

    channels: list[str] | None = None

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return value
        for name in value:
            if not re.match(r"^[a-z][a-z0-9_]{0,39}$", name) or name == "portal":
                raise ValueError(f"{name!r} is not a channel name like sms or facilitator (portal is always on)")
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value


class PilotSpec(BaseModel):
    """A pilot as a file (or an admin) describes it."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="short stable code, e.g. BWI-2025")
    name: str = Field(min_length=3, max_length=200)
    regions: list[str] = Field(min_length=1, description="kode wilayah (Kemendagri) the pilot covers")
    programmes: list[str] = Field(min_length=1)
    languages: list[str] = Field(default_factory=lambda: list(LANGUAGES))
    phases: Phases
    plugins: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: overrides of the notification texts: {template: {language: {title, body, short}}}
    templates: dict[str, Any] = Field(default_factory=dict)
    #: rate limits of costly actions ([limits.<action>]); what is left out is the default
    limits: Limits = Field(default_factory=Limits)
    #: [notification]: the channels a decision goes through, in order (facilitator: the fallback)
    notification: NotificationSettings = Field(default_factory=NotificationSettings)
    #: a training pilot (perlinsos.pilots.training): simulators only, texts LATIHAN, out of statistics
    training: bool = False

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        if not _CODE.match(value):
            raise ValueError("use 2-40 capital letters, digits and dashes, e.g. BWI-2025")
        return value

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        for code in value:
            if not _REGION.match(code):
                raise ValueError(f"{code!r} is not a kode wilayah like 35.10 or 35.10.15.2004")
            if code[:2] not in PROVINCE_CODES or "00" in code.split(".")[1:]:
                raise ValueError(f"{code!r} is not a known region")
            # The platform ships every Kemendagri region (perlinsos.regions): a code must exist.
            if regions.get(code) is None:
                raise ValueError(f"{code!r} is not a known region")
        if len(set(value)) != len(value):
            raise ValueError("a region is listed twice")
        return value

    @field_validator("programmes")
    @classmethod
    def _programmes(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in PROGRAMMES]
        if unknown:
            raise ValueError(f"unknown programme {unknown[0]!r} (known: {', '.join(PROGRAMMES)})")
        return value

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        unknown = [lang for lang in value if lang not in LANGUAGES]
        if unknown:
            raise ValueError(f"unknown language {unknown[0]!r} (known: {', '.join(LANGUAGES)})")
        return value


def parse_pilot(data: dict[str, Any], plugins: PluginManager, *, source: str = "<data>") -> PilotSpec:
    """Validate pilot data, including each enabled plugin's settings against its own schema."""
    try:
        spec = PilotSpec.model_validate(data)
    except ValidationError as exc:
        problems = [(".".join(str(p) for p in e["loc"]) or "(file)", _msg(e)) for e in exc.errors()]
        raise PilotFileError(source, problems) from None
    from perlinsos.notification import template_problems

    problems: list[tuple[str, str]] = list(template_problems(spec.templates))
    validated: dict[str, Any] = {}
    for name, settings in spec.plugins.items():
        try:
            validated[name] = plugins.validate_settings(name, settings)
        except PluginSettingsError as exc:
            problems += [(f"plugins.{name}.{f}" if f else f"plugins.{name}", m) for f, m in exc.problems]
        except UnknownPlugin:
            problems.append((f"plugins.{name}", f"unknown plugin (installed: {', '.join(plugins.names())})"))
        except PluginError as exc:
            problems.append((f"plugins.{name}", str(exc)))
    if not problems:
        problems += identity_problems(spec, validated, plugins)
    if spec.training:
        from perlinsos.pilots.training import training_problems

        problems += training_problems(spec.plugins, validated)
    if plugins.production:
        problems += [(path, f"a development secret ({DEV_SECRET_PREFIX}…) is refused in production: "
                            "set the real one") for path in development_secrets(validated)]
    if problems:
        raise PilotFileError(source, problems)
    return spec


def development_secrets(validated: dict[str, Any]) -> list[str]:
    """``plugins.<name>.<setting>`` of each secret setting (``SecretStr``) whose value, given or the
    plugin's default, begins with :data:`DEV_SECRET_PREFIX`."""
    found = []
    for name, settings in validated.items():
        for key in getattr(type(settings), "model_fields", {}):
            value = getattr(settings, key, None)
            if isinstance(value, SecretStr) and value.get_secret_value().startswith(DEV_SECRET_PREFIX):
                found.append(f"plugins.{name}.{key}")
    return found


def _context(spec: PilotSpec, validated: dict[str, Any]) -> PilotContext:
    return PilotContext(id=None, code=spec.code, name=spec.name, region_codes=tuple(spec.regions),
                        programmes=tuple(spec.programmes), plugins=validated)


def identity_problems(spec: PilotSpec, validated: dict[str, Any], plugins: PluginManager) -> list[tuple[str, str]]:
    """What in the pilot's trust (who signs in, who grants consent and the person record) or in
    the consent scopes its plugins declare would be unsafe: clashes, a national provider the
    deployment does not know. Refused, named."""
    from perlinsos import scopes
    from perlinsos.identity.trust import TrustError

    hooks = plugins.for_pilot(_context(spec, validated))
    try:
        problems = hooks.trust_now().problems(plugins.national_issuers)
    except TrustError as exc:
        problems = [(f"plugins.{exc.plugin}", str(exc))]
    return problems + scopes.merge(hooks.sync_results("consent_scopes"))[1]


def pilot_warnings(context: PilotContext, plugins: PluginManager) -> list[str]:
    """What keeps a valid pilot from working yet, e.g. "citizens of JBR-2026 can sign in but
    nothing can grant consent" (a pilot may be rolled out in steps: warned, not refused)."""
    from perlinsos.identity.trust import TrustError

    hooks = plugins.for_pilot(context)
    try:
        trust = hooks.trust_now()
    except TrustError as exc:
        return [str(exc)]
    bound = {d.plugin for d in trust.declared}
    return trust.missing(lambda hook: bool(set(hooks.implementers(hook)) - bound))


def spec_warnings(spec: PilotSpec, plugins: PluginManager) -> list[str]:
    """:func:`pilot_warnings` of a parsed pilot (its settings validated again: they were)."""
    validated = {name: plugins.validate_settings(name, settings) for name, settings in spec.plugins.items()}
    return pilot_warnings(_context(spec, validated), plugins)


def _msg(error: dict[str, Any]) -> str:
    if error["type"] == "missing":
        return "required field is missing"
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return error["msg"].removeprefix("Value error, ")


def load_pilot_file(path: str | Path, plugins: PluginManager) -> PilotSpec:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PilotFileError(str(path), [("(file)", "no such file")]) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PilotFileError(str(path), [("(file)", f"not valid TOML: {exc}")]) from None
    return parse_pilot(data, plugins, source=str(path))


def bundled_pilot_file(name: str = "banyuwangi") -> Path:
    """A pilot file shipped with the platform (the Banyuwangi pilot)."""
    return Path(str(resources.files("perlinsos") / "pilots" / f"{name}.toml"))
