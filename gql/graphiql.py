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

from db import clock

__all__ = ["STATIC_DIR", "DEFAULT_QUERY", "READY_QUERIES", "graphiql_html"]

#: Directory to mount with ``StaticFiles``; GraphiQL's assets live in its
#: ``graphiql/`` subdirectory.
STATIC_DIR: pathlib.Path = pathlib.Path(__file__).resolve().parent / "static"

DEFAULT_QUERY = """\
# 欢迎使用党建工作平台 GraphQL 接口。
#
# 大多数操作需要先登录。执行下面的登录变更（Ctrl+Enter 执行）：
#
#   mutation {
#     login(input: {username: "admin", password: "..."}) {
#       token
#       userErrors { message }
#     }
#   }
#
# 登录成功后，token 会自动填入下方 Headers（请求头）标签页：
#
#   {"Authorization": "Bearer <token>"}
#
# 并在此显示适合您角色的三个常用查询。执行 logout 变更会清除请求头。
"""

#: Three ready queries per role, shown after a successful login in GraphiQL ($ORG: the id of the
#: account's organization, $FROM / $TODAY: this year's first day and today, filled in the browser).
READY_QUERIES: dict[str, str] = {
    "MEMBER": """\
# 查看本人党员信息和信息完整度
query MyRecord {
  viewer { name member { name category status organization { name } completeness { percent missing warnings } } }
}

# 本人的子信息集（最近 20 条）
query MyRecords {
  viewer { member { records(first: 20) { totalCount edges { node { kind title date } } } } }
}

# 本人的党籍异动和困难党员记录
query MyHistory {
  viewer { member { statusChanges { kind date reason } difficulties { kind { label } recordedOn } } }
}
""",
    "VIEWER": """\
# 本组织及下级组织在册人员数（辖区，含入党申请人等各类人员）
query MyBranch {
  viewer { name role organization { name memberCount(filter: {scope: SUBTREE})
    children { name memberCount(filter: {scope: SUBTREE}) } } }
}

# 年龄结构 × 性别 交叉统计
query AgeByGender {
  crossTab(input: {organizationId: "$ORG", rows: AGE_BAND, columns: GENDER}) {
    rows { label } columns { label } cells rowTotals total
  }
}

# 本年党员增减情况
query ThisYearBalance {
  memberBalance(organizationId: "$ORG", from: "$FROM", to: "$TODAY") {
    start end increases { label count } decreases { label count }
  }
}
""",
    "OPERATOR": """\
# 本组织及下级组织在册人员数（辖区，含入党申请人等各类人员）
query MyBranch {
  viewer { name role organization { name memberCount(filter: {scope: SUBTREE})
    children { name memberCount(filter: {scope: SUBTREE}) } } }
}

# 待我审批的新增党员
query PendingApprovals {
  pendingApprovals(first: 20) { totalCount edges { node { id name organization { name } } } }
}

# 信息完整度低于 80% 的党员（待补录）
query Incomplete {
  members(first: 20, filter: {completenessBelow: 80}) {
    totalCount edges { node { id name organization { name } completeness { percent missing } } }
  }
}
""",
    "ADMIN": """\
# 本组织及下级组织在册人员数（辖区，含入党申请人等各类人员）
query MyBranch {
  viewer { name role organization { name memberCount(filter: {scope: SUBTREE})
    children { name memberCount(filter: {scope: SUBTREE}) } } }
}

# 辖区内的账户
query Accounts {
  accounts(first: 20) { totalCount edges { node { username name role disabled lastLoginAt organization { name } } } }
}

# 信息完整度低于 80% 的党员（待补录）
query Incomplete {
  members(first: 20, filter: {completenessBelow: 80}) {
    totalCount edges { node { id name organization { name } completeness { percent missing } } }
  }
}
""",
}


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
    :data:`STATIC_DIR` at ``static_prefix``). The page carries the server's day (db.clock),
    which the ready queries' $TODAY takes: a browser east of the server (Beijing against a server
    on UTC) is a day ahead for part of every day, and memberBalance refuses a `to` after the
    server's today.
    """
    assets = html.escape(static_prefix.rstrip("/") + "/graphiql", quote=True)
    day = clock.today().isoformat()
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <meta name="dangjian-today" content="{day}">
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
      // After a successful `login` the token goes into the Headers tab by itself (the headers
      // prop is synchronised into the editor) and the editor shows three ready queries for the
      // role; a successful `logout` clears the header. The token lives only in this page.
      var endpoint = {_js(endpoint)};
      var defaultQuery = {_js(DEFAULT_QUERY)};
      var ready = {_js(READY_QUERIES)};
      // Plain request/response (no incremental delivery): the fetcher's answer is one promise.
      var base = GraphiQL.createFetcher({{ url: endpoint, enableIncrementalDelivery: false }});
      var root = ReactDOM.createRoot(document.getElementById("graphiql"));
      var state = {{ token: null, query: undefined }};
      window.graphiqlSession = state;

      function pad(n) {{ return (n < 10 ? "0" : "") + n; }}
      function welcome(viewer) {{
        var d = new Date(), today = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
        var served = document.querySelector('meta[name="dangjian-today"]');
        if (served && /^\\d{{4}}-\\d{{2}}-\\d{{2}}$/.test(served.content)) today = served.content;  // the server's day
        var text = (ready[viewer.role] || ready.VIEWER).split("$ORG").join(viewer.organization.id)
          .split("$FROM").join(today.slice(0, 4) + "-01-01").split("$TODAY").join(today);
        return "# 已登录：" + viewer.name + "（" + viewer.role + "，" + viewer.organization.name + "）。\\n" +
          "# token 已自动填入 Headers（请求头）；执行 logout 变更会清除它。\\n" +
          "# 以下是适合您角色的三个常用查询：把光标放在其中一个里，按 Ctrl+Enter 执行。\\n\\n" + text;
      }}

      function signedIn(token) {{
        state.token = token;
        return fetch(endpoint, {{
          method: "POST",
          headers: {{ "Content-Type": "application/json", "Authorization": "Bearer " + token }},
          body: JSON.stringify({{ query: "{{ viewer {{ name role organization {{ id name }} }} }}" }})
        }}).then(function (r) {{ return r.json(); }}).then(function (r) {{
          if (r.data && r.data.viewer) state.query = welcome(r.data.viewer);
          render();
        }}, render);
      }}

      function watch(result) {{
        var data = result && result.data;
        if (!data || typeof data !== "object") return;
        Object.keys(data).forEach(function (key) {{
          var value = data[key];
          if (value && typeof value.token === "string" && value.token && Array.isArray(value.userErrors)) {{
            signedIn(value.token);
          }} else if (key === "logout" && value && value.ok) {{
            state.token = null;
            state.query = defaultQuery;
            render();
          }}
        }});
      }}

      function fetcher(params, options) {{
        var result = base(params, options);
        if (result && typeof result.then === "function") {{
          return result.then(function (value) {{ watch(value); return value; }});
        }}
        return result;
      }}

      function render() {{
        var props = {{
          fetcher: fetcher,
          defaultQuery: defaultQuery,
          headers: state.token ? JSON.stringify({{ Authorization: "Bearer " + state.token }}, null, 2) : "{{}}",
          isHeadersEditorEnabled: true,
          defaultEditorToolsVisibility: "headers",
          shouldPersistHeaders: false
        }};
        if (state.query !== undefined) props.query = state.query;
        root.render(React.createElement(GraphiQL, props));
      }}
      render();
    }})();
  </script>
</body>
</html>
"""
