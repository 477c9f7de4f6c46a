"""/health: is the database reachable, and is its schema current?"""

from __future__ import annotations

import httpx

from perlinsos.app import create_app
from perlinsos.settings import Settings


async def _health(app) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        return await http.get("/health")


async def test_healthy(app):
    response = await _health(app)
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["schema"] == "current"


async def test_empty_database_reports_missing_schema(tmp_path, plugin_manager):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}"), plugin_manager)
    response = await _health(app)
    assert response.status_code == 503
    assert response.json()["schema"] == "missing"


async def test_unreachable_database(plugin_manager):
    app = create_app(Settings(database_url="postgresql://x:pw@127.0.0.1:1/none"), plugin_manager)
    response = await _health(app)
    assert response.status_code == 503
    assert response.json()["database"] == "unreachable"
    assert "pw" not in response.text


async def test_hook_register_routes(settings):
    import pytest

    from fixtures.route_plugins import Callback, Shadow
    from perlinsos.errors import PluginError
    from perlinsos.plugins import PluginManager

    app = create_app(settings, PluginManager(extra_plugins=[("callback", Callback())]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.post("/plugins/callback/ping")).json() == {"pong": True}
    await app.state.perlinsos.db.dispose()
    with pytest.raises(PluginError) as info:
        create_app(settings, PluginManager(extra_plugins=[("shadow", Shadow())]))
    assert "'shadow'" in str(info.value) and "/plugins/shadow/" in str(info.value)
