"""`GET /docs`: the API's interactive reference (Swagger UI) over its own OpenAPI document.

The assets come from the `swagger-ui-py` package installed with fabric, never from a CDN: operators
run the API in closed networks.  Only the files the page needs are served, by name.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>fabric api</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
</head>
<body>
  <div id="reference"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/start.js"></script>
</body>
</html>
"""
# A file of its own, not inline: the page then works under a Content-Security-Policy without
# 'unsafe-inline'.  Requests from the page carry the token the user enters under "Authorize".
START = """window.onload = () => {
  window.ui = SwaggerUIBundle({url: "/v1/openapi.json", dom_id: "#reference", deepLinking: true,
                               persistAuthorization: false, tryItOutEnabled: false});
};
"""
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "application/javascript",
    "favicon-32x32.png": "image/png",
}


def _assets() -> Path:
    import swagger_ui  # the package's static directory holds Swagger UI's release files

    return Path(swagger_ui.__file__).parent / "static"


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


async def asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["asset"]
    if name == "start.js":
        return web.Response(text=START, content_type="application/javascript")
    if name not in ASSETS:
        raise web.HTTPNotFound()
    headers = {"Content-Type": ASSETS[name], "Cache-Control": "public, max-age=86400"}
    return web.FileResponse(_assets() / name, headers=headers)
