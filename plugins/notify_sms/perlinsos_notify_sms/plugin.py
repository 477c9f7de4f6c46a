"""Hook implementations of the SMS plugin."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from perlinsos import hookimpl


class SmsSettings(BaseModel):
    """Gateway settings a pilot gives the SMS plugin (``[plugins.notify_sms]``)."""

    model_config = ConfigDict(extra="forbid")

    gateway_url: HttpUrl
    api_key: str = Field(min_length=1, description="sent as a bearer token; keep it out of git")
    sender_id: str = Field(min_length=1, max_length=11, description="alphanumeric sender id")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)
    portal_url: HttpUrl | None = Field(default=None, description="where a message points for details")


@hookimpl
def plugin_settings_schema():
    return SmsSettings
