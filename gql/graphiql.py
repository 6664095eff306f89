"""Self-hosted GraphiQL page.

Deployments run on intranets without internet access, so the page loads
GraphiQL (and React) only from the app's own static files, vendored under
``gql/static/graphiql/`` (see ``VERSIONS.txt`` there).  The page contains no
external URLs.

Typical wiring::

    from starlette.staticfiles import StaticFiles
    from gql.graphiql import STATIC_DIR, graphiql_html

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    # and respond to browser GETs of /graphql with HTMLResponse(graphiql_html())
"""

from __future__ import annotations

import html
import json
import pathlib

__all__ = ["STATIC_DIR", "DEFAULT_QUERY", "graphiql_html"]

#: Directory to mount with ``StaticFiles``; GraphiQL's assets live in its
#: ``graphiql/`` subdirectory.
STATIC_DIR: pathlib.Path = pathlib.Path(__file__).resolve().parent / "static"

DEFAULT_QUERY = """\
# 欢迎使用党建工作平台 GraphQL 接口。
#
# 大多数操作需要先登录。第一步，执行登录变更获取 token：
#
#   mutation {
#     login(input: {username: "admin", password: "..."}) {
#       token
#       userErrors { message }
#     }
#   }
#
# 第二步，在下方 Headers（请求头）标签页中填入：
#
#   {"Authorization": "Bearer <token>"}
#
# 之后即可在此编写并执行查询（Ctrl+Enter 执行）。
"""


def _js(value: object) -> str:
    """Serialise ``value`` as a JS literal that is safe inside <script>."""
    return (
        json.dumps(value, ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def graphiql_html(endpoint: str = "/graphql", static_prefix: str = "/static") -> str:
    """Return a complete HTML page rendering GraphiQL against ``endpoint``.

    Assets are loaded from ``{static_prefix}/graphiql/`` (mount
    :data:`STATIC_DIR` at ``static_prefix``).
    """
    assets = html.escape(static_prefix.rstrip("/") + "/graphiql", quote=True)
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>党建工作平台 GraphQL</title>
  <link rel="stylesheet" href="{assets}/graphiql.min.css">
  <style>
    html, body {{ height: 100%; margin: 0; overflow: hidden; }}
    #graphiql {{ height: 100vh; }}
  </style>
</head>
<body>
  <div id="graphiql">正在加载 GraphiQL…</div>
  <script src="{assets}/react.production.min.js"></script>
  <script src="{assets}/react-dom.production.min.js"></script>
  <script src="{assets}/graphiql.min.js"></script>
  <script>
    (function () {{
      var fetcher = GraphiQL.createFetcher({{ url: {_js(endpoint)} }});
      var root = ReactDOM.createRoot(document.getElementById("graphiql"));
      root.render(
        React.createElement(GraphiQL, {{
          fetcher: fetcher,
          defaultQuery: {_js(DEFAULT_QUERY)},
          isHeadersEditorEnabled: true,
          defaultEditorToolsVisibility: "headers",
          shouldPersistHeaders: false
        }})
      );
    }})();
  </script>
</body>
</html>
"""
