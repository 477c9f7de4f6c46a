"""The settings a pilot gives the SMS plugin (``[plugins.notify_sms]`` in the pilot file)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

NAME = "notify_sms"


class SmsSettings(BaseModel):
    """Gateway settings of the SMS plugin for one pilot.

    ``api_key`` is a secret (shown masked to admins) and ``gateway_url`` is where it is sent: the
    setting is marked ``secret_destination`` (``json_schema_extra``), so an update that changes it
    must give the key again; a masked key is then refused, not kept (docs/plugins.md, Settings).
    ``delivery_report_url`` is not one: the gateway posts reports there, the key never goes there.
    """

    model_config = ConfigDict(extra="forbid")

    gateway_url: HttpUrl = Field(description="base URL of the gateway API; messages go to POST {gateway_url}/messages",
                                 json_schema_extra={"secret_destination": True})
    api_key: SecretStr = Field(min_length=1, description="sent as a bearer token and the key of delivery-report "
                                                         "signatures; keep it out of git in production")
    sender_id: str = Field(min_length=1, max_length=11, pattern=r"^[A-Za-z0-9][A-Za-z0-9 .\-]*$",
                           description="alphanumeric sender id the citizen sees (at most 11 characters)")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="bound on every call to the gateway")
    portal_url: HttpUrl | None = Field(default=None, description="where a message points for the full explanation; "
                                                                 "appended when the text lacks it")
    delivery_report_url: HttpUrl | None = Field(
        default=None, description="where the gateway posts delivery reports: this deployment's "
                                  "/plugins/notify_sms/delivery-reports (no reports when absent)")
    max_segments: int = Field(default=2, ge=1, le=6, description="longest SMS in segments; longer texts are "
                                                                 "shortened before the portal pointer")
    detail: Literal["minimal", "full"] = Field(
        default="minimal",
        description="minimal: the outcome and the kind of each reason, never amounts or flags about a household "
                    "member (the full reasons are in the portal, behind sign-in); full: the reasons as the portal "
                    "shows them — they travel through the gateway to a phone the household may share")

    @property
    def key(self) -> str:
        return self.api_key.get_secret_value()

    @property
    def messages_url(self) -> str:
        return str(self.gateway_url).rstrip("/") + "/messages"

    @property
    def portal_link(self) -> str | None:
        """The portal URL as a citizen reads it: no trailing ``/`` after a bare host."""
        if self.portal_url is None:
            return None
        link = str(self.portal_url)
        return link[:-1] if link.endswith("/") and self.portal_url.path in ("", "/") else link


def settings_of(pilot: Any) -> SmsSettings | None:
    """The pilot's SMS settings (``None`` when the pilot does not enable the plugin)."""
    settings = pilot.settings_for(NAME) if pilot is not None else None
    if isinstance(settings, Mapping):  # a PilotContext built by hand may carry the raw table
        settings = SmsSettings.model_validate(dict(settings))
    return settings
