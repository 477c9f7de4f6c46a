"""GraphiQL at /graphql: in development a real browser (Debian's chromium, driven by Playwright)
loads it from this server alone, a query typed into its editor runs and the answer shows; in
production there is no IDE and no IDE files."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
import uvicorn
from perlinsos.app import create_app
from perlinsos.devservers import serve_in_thread

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HTML = {"Accept": "text/html"}


async def get(app, path: str, headers: dict | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://perlinsos.test") as http:
        return await http.get(path, headers=headers)


async def test_development_serves_graphiql_and_its_files_from_the_platform(settings, plugin_manager):
    app = create_app(settings, plugin_manager)
    page = await get(app, "/graphql", HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    # nothing from a CDN: every script and stylesheet is one of ours, and each is served
    assert not re.search(r"(src|href)=\"(https?:)?//", page.text)
    assets = re.findall(r"(?:src|href)=\"(graphiql/[^\"]+)\"", page.text)
    assert {"graphiql/graphiql.min.js", "graphiql/react.production.min.js", "graphiql/perlinsos.js"} <= set(assets)
    for asset in assets:
        answer = await get(app, f"/{asset}")
        assert answer.status_code == 200 and len(answer.content) > 1000, asset
    assert (await get(app, "/graphiql/../app.py")).status_code == 404  # the folder only


async def test_production_serves_no_ide(settings, plugin_manager):
    app = create_app(replace(settings, production=True), plugin_manager)
    page = await get(app, "/graphql", HTML)
    assert page.status_code == 404 and "graphiql" not in page.text.lower()
    assert (await get(app, "/graphiql/graphiql.min.js")).status_code == 404
    assert (await get(app, "/graphiql/perlinsos.js")).status_code == 404


@pytest.fixture
def served(settings, plugin_manager, pilot):
    """The app on a free port, served by uvicorn from a thread (a browser needs a real socket)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(settings, plugin_manager), host="127.0.0.1", port=port, log_level="warning",
                            timeout_graceful_shutdown=1)
    server = serve_in_thread(uvicorn.Server(config), name="graphiql-test-api", summary=f"API on {port}")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    # Wait for the server's own shutdown (its lifespan disposes the database) before the next test:
    # an aiosqlite thread outliving the server's event loop ends in "Event loop is closed".
    for thread in threading.enumerate():
        if thread.name == "graphiql-test-api":
            thread.join(timeout=10)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (.ci/run installs it)")
async def test_a_query_typed_into_graphiql_runs_in_a_real_browser(served):
    from playwright.async_api import async_playwright

    requests: list[str] = []
    problems: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            await page.goto(f"{served}/graphql", wait_until="load")
            editor = page.locator(".graphiql-query-editor .CodeMirror")
            await editor.wait_for(timeout=20_000)
            # the documented example is there to start from
            assert "pilots" in await page.evaluate(
                "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()")

            await editor.click()
            await page.keyboard.press("Control+A")
            await page.keyboard.press("Delete")
            # typed key by key; the editor closes brackets itself and types over them
            await page.keyboard.type("{ pilots { nodes { code } } }", delay=10)
            await page.keyboard.press("Escape")  # close any completion popup
            typed = await page.evaluate(
                "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue()")
            assert re.sub(r"\s+", " ", typed).strip() == "{ pilots { nodes { code } } }", typed

            await page.locator(".graphiql-execute-button").click()
            response = page.locator(".graphiql-response")
            await response.get_by_text("BWI-2025").wait_for(timeout=20_000)
            shown = await page.evaluate(
                "document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()")
            assert '"code": "BWI-2025"' in shown, shown

            # the schema came through introspection: the Docs panel lists the root query's fields
            await page.get_by_role("button", name="Show Documentation Explorer").click()
            docs = page.locator(".graphiql-doc-explorer")
            await docs.get_by_text("Query", exact=True).first.click(timeout=20_000)
            await docs.get_by_text("pilots", exact=True).first.wait_for(timeout=20_000)
            if os.environ.get("PERLINSOS_SCREENSHOT"):  # to look at it: a PNG of the IDE
                await page.screenshot(path=os.environ["PERLINSOS_SCREENSHOT"])
        finally:
            await browser.close()
    # everything came from the platform itself (no CDN, nothing blocked by the page's CSP)
    assert requests and all(u.startswith(served) for u in requests), [u for u in requests if not u.startswith(served)]
    assert not problems, problems
    await asyncio.sleep(0)
