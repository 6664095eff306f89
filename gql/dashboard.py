"""The dashboard page (GET /dashboard): the API's own statistics drawn in the browser.

Built only on the public GraphQL API, for dashboard builders to use as it is and to copy from:
every card has a "显示查询" toggle that shows the exact document and variables it sent. Plain
HTML + JavaScript, no build step: the page is this skeleton, the code is
``gql/static/dashboard/dashboard.js`` and the charts are Apache ECharts vendored under
``gql/static/echarts/`` (see VERSIONS.txt there), so the page loads nothing from outside the server
and works on an intranet. No inline script or style: a strict Content-Security-Policy
(script-src 'self') leaves it working.

Requests: the first view is three GraphQL requests (overview + organization walk; the six cross-tabs
under aliases in one document; this year's member balance), each card is filled by at most one;
a drill-through is one request per page of members. Counted in tests/test_browser.py in headless
Chromium. Measured on the `make run` demo tree (60 organizations, 1,200 members, SQLite, one
uvicorn process, signed in as `viewer`, this 2-core machine shared with other jobs): the first view
drawn in a median of 820 ms over 7 reloads (226 to 1,183 ms: the three requests run in parallel,
repeats are often response-cache hits), an as-of redraw in 223 to 1,118 ms. What the browser
loads: this page 3.9 KB, dashboard.js 23 KB, dashboard.css 2.5 KB, ECharts' common build 715 KB
(uncompressed; the full build is 1.1 MB and draws nothing more that the page needs).
"""
from __future__ import annotations

import html

from db import clock

__all__ = ["dashboard_html"]


# The page's own Content-Security-Policy (gql.app's default, default-src 'none', would block its
# scripts): scripts, styles, images and fonts from this server only, requests to this server only
# (the GraphQL endpoint and the export routes), no frames, no form posts anywhere. ECharts sets
# element styles from script (CSSOM, not governed by style-src) and draws on canvas.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def dashboard_html(static_prefix: str = "/static") -> str:
    """The page; it carries the server's day (db.clock), which the page counts to (the
    member balance's end, the as-of field's latest day) rather than the browser's: a browser east
    of the server (Beijing against a server on UTC) is a day ahead for part of every day, and the
    API refuses a day after its own today."""
    static = html.escape(static_prefix.rstrip("/"), quote=True)
    day = clock.today().isoformat()
    return f"""<!DOCTYPE html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <meta name="dangjian-today" content="{day}">
  <title>党建统计看板</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{static}/dashboard/dashboard.css">
</head>
<body>
  <header>
    <h1>党建统计看板</h1>
    <div id="who"></div>
    <button id="logout" type="button" hidden>退出登录</button>
  </header>
  <main>
    <section id="login-card" class="card" hidden>
      <h2>登录</h2>
      <form id="login-form">
        <label>用户名 <input name="username" autocomplete="username" required></label>
        <label>密码 <input name="password" type="password" autocomplete="current-password" required></label>
        <button type="submit">登录</button>
        <p id="login-error" class="error" role="alert"></p>
      </form>
      <p class="hint">本页只使用公开的 GraphQL 接口（/graphql）；每张卡片的“显示查询”给出它发送的查询和变量，可直接复制到自己的工具中。</p>
    </section>

    <div id="board" hidden>
      <section id="nav-card" class="card wide" data-card="overview">
        <nav id="breadcrumb" aria-label="上级组织"></nav>
        <div class="controls">
          <span class="group" role="group" aria-label="范围">
            <button type="button" data-scope="SELF">本级</button>
            <button type="button" data-scope="SUBTREE">辖区</button>
          </span>
          <label>截至日期 <input id="as-of" type="date"></label>
          <span id="presets" class="group" role="group" aria-label="常用日期"></span>
        </div>
        <div id="children"></div>
        <p id="nav-error" class="error" role="alert"></p>
      </section>

      <section class="card kpis" data-card="overview">
        <h2>概况 <button type="button" class="show-query">显示查询</button></h2>
        <div class="kpi"><span class="label">当前在册人员</span><span id="kpi-count" class="value">–</span></div>
        <div class="kpi" id="kpi-asof-box" hidden><span class="label" id="kpi-asof-label">截至</span><span id="kpi-asof" class="value">–</span></div>
        <div class="kpi"><span class="label">信息完整度低于 80% 待办</span><span id="kpi-todo" class="value">–</span></div>
        <div class="exports">名册导出：
          <button type="button" data-export="members.xlsx">Excel</button>
          <button type="button" data-export="members.csv">CSV</button>
        </div>
        <pre class="query" hidden></pre>
      </section>

      <section class="card" data-card="balance">
        <h2>本年党员增减 <button type="button" class="show-query">显示查询</button></h2>
        <div id="balance-chart" class="chart"></div>
        <table id="balance-table"></table>
        <div class="exports">导出：
          <button type="button" data-export="balance.xlsx">Excel</button>
          <button type="button" data-export="balance.docx">Word</button>
        </div>
        <pre class="query" hidden></pre>
      </section>

      <div id="charts"></div>

      <section id="drill" class="card wide" data-card="drill" hidden>
        <h2><span id="drill-title">党员名单</span> <button type="button" class="show-query">显示查询</button>
          <button type="button" id="drill-close">关闭</button></h2>
        <p id="drill-summary"></p>
        <table id="drill-table"><thead><tr><th>姓名</th><th>性别</th><th>出生日期</th><th>身份证号</th><th>类别</th><th>所在党组织</th></tr></thead><tbody></tbody></table>
        <button type="button" id="drill-more" hidden>加载更多</button>
        <pre class="query" hidden></pre>
      </section>
    </div>
  </main>
  <script src="{static}/echarts/echarts.common.min.js"></script>
  <script src="{static}/dashboard/dashboard.js"></script>
</body>
</html>
"""
