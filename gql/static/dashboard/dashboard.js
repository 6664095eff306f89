/*
 * 党建统计看板 (/dashboard): the API's own statistics, drawn with Apache ECharts.
 *
 * Built only on the public GraphQL API (/graphql) so dashboard builders can copy it: every card's
 * "显示查询" shows the exact document and variables it sent. State lives in the URL hash
 * (#org=<id>&scope=SUBTREE&asOf=2025-12-31) and the token in sessionStorage. The server decides
 * what exists: an organization outside the caller's branch comes back null and is never drawn.
 *
 * Requests: the first view is three (Overview, Charts, Balance); a drill-through is one per page.
 */
(function () {
  "use strict";

  var ENDPOINT = "/graphql";
  var TOKEN = "dangjian.token", HOME = "dangjian.home", WHO = "dangjian.who";
  var PAGE = 50;

  // The cross-tabs drawn, one card each; `sorted`: bars sorted by count, largest first.
  var CHARTS = [
    { name: "age", dim: "AGE_BAND", title: "年龄结构", type: "bar" },
    { name: "education", dim: "EDUCATION", title: "学历", type: "bar" },
    { name: "gender", dim: "GENDER", title: "性别", type: "pie" },
    { name: "category", dim: "CATEGORY", title: "人员类别", type: "pie" },
    { name: "partyAge", dim: "PARTY_AGE_BAND", title: "党龄", type: "bar" },
    { name: "child", dim: "CHILD_ORGANIZATION", title: "下级党组织党员数", type: "hbar", sorted: true }
  ];

  var OVERVIEW = [
    "query Overview($id: ID!, $scope: Scope!) {",
    "  organization(id: $id) {",
    "    id name code",
    "    ancestors { id name }",
    "    children { id name code }",
    "    memberCount(filter: {scope: $scope})",
    "    todo: members(filter: {scope: $scope, completenessBelow: 80}, first: 1) { totalCount }",
    "  }",
    "}"
  ].join("\n");

  var CHARTS_QUERY = "query Charts($id: ID!, $scope: Scope!, $asOf: Date) {\n" + CHARTS.map(function (c) {
    return "  " + c.name + ": crossTab(input: {organizationId: $id, scope: $scope, rows: " + c.dim +
      ", asOf: $asOf}) { ...Table }";
  }).join("\n") + "\n}\n\nfragment Table on CrossTab {\n  rows { key label }\n  cells\n  total\n}";

  var BALANCE = [
    "query Balance($id: ID!, $scope: Scope!, $from: Date!, $to: Date!) {",
    "  memberBalance(organizationId: $id, from: $from, to: $to, scope: $scope) {",
    "    from to start end",
    "    increases { kind label count }",
    "    decreases { kind label count }",
    "  }",
    "}"
  ].join("\n");

  var DRILL = [
    "query Drill($id: ID!, $scope: Scope!, $asOf: Date, $rows: Dimension!, $row: String!, $first: Int!, $after: String) {",
    "  crossTab(input: {organizationId: $id, scope: $scope, rows: $rows, asOf: $asOf}) {",
    "    members(row: $row, first: $first, after: $after) {",
    "      totalCount",
    "      pageInfo { hasNextPage endCursor }",
    "      edges { node { id name gender birthDate idNumber category organization { name } } }",
    "    }",
    "  }",
    "}"
  ].join("\n");

  var LOGIN = [
    "mutation Login($input: LoginInput!) {",
    "  login(input: $input) {",
    "    token",
    "    account { name role organization { id name } }",
    "    userErrors { code message }",
    "  }",
    "}"
  ].join("\n");

  var LABELS = { MALE: "男", FEMALE: "女", APPLICANT: "入党申请人", ACTIVIST: "入党积极分子",
    CANDIDATE: "发展对象", PROBATIONARY: "预备党员", FULL: "正式党员",
    VIEWER: "只读", OPERATOR: "经办", ADMIN: "管理员", MEMBER: "党员本人" };

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };

  // What the page did, for people and for the browser test: every request, every chart.
  var dashboard = window.dashboard = { requests: [], charts: {}, data: {}, state: null, ready: false };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function isoDate(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }
  // The server's day (its page says it): the API refuses a day after its own today, and a browser
  // east of the server is a day ahead for part of every day. The browser's only without it.
  function today() {
    var served = document.querySelector('meta[name="dangjian-today"]');
    return served && /^\d{4}-\d{2}-\d{2}$/.test(served.content) ? served.content : isoDate(new Date());
  }

  // ------------------------------------------------------------------ state (URL hash)

  function readState() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    var scope = params.get("scope") === "SELF" ? "SELF" : "SUBTREE";
    var asOf = params.get("asOf");
    if (!/^\d{4}-\d{2}-\d{2}$/.test(asOf || "")) asOf = null;
    return { org: params.get("org") || sessionStorage.getItem(HOME), scope: scope, asOf: asOf };
  }

  function writeState(next) {
    var s = Object.assign({}, dashboard.state || readState(), next);
    var params = new URLSearchParams();
    if (s.org) params.set("org", s.org);
    params.set("scope", s.scope);
    if (s.asOf) params.set("asOf", s.asOf);
    var hash = "#" + params.toString();
    if (location.hash === hash) render();
    else location.hash = hash;  // the hashchange listener redraws
  }

  // ------------------------------------------------------------------ GraphQL

  function graphql(card, query, variables) {
    var token = sessionStorage.getItem(TOKEN);
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    var sent = { card: card, query: query, variables: variables };
    dashboard.requests.push(sent);
    showQuery(card, sent);
    return fetch(ENDPOINT, { method: "POST", headers: headers, body: JSON.stringify({ query: query, variables: variables }) })
      .then(function (response) { return response.json(); })
      .then(function (result) {
        sent.errors = result.errors || null;
        var codes = (result.errors || []).map(function (e) { return e.extensions && e.extensions.code; });
        if (codes.indexOf("UNAUTHENTICATED") >= 0 && card !== "login") {
          signedOut("登录已过期，请重新登录");
          throw new Error("UNAUTHENTICATED");
        }
        return result;
      });
  }

  function showQuery(card, sent) {
    $$('[data-card="' + card + '"] pre.query').forEach(function (pre) {
      pre.textContent = "# POST " + ENDPOINT + "\n" + sent.query + "\n\n# variables\n" +
        JSON.stringify(sent.variables, null, 2);
    });
  }

  function errorText(result) {
    return (result.errors || []).map(function (e) { return e.message; }).join("；");
  }

  // ------------------------------------------------------------------ sign in / out

  function signedOut(message) {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(HOME);
    sessionStorage.removeItem(WHO);
    $("#board").hidden = true;
    $("#logout").hidden = true;
    $("#who").textContent = "";
    $("#login-card").hidden = false;
    $("#login-error").textContent = message || "";
    Object.keys(dashboard.charts).forEach(function (k) { dashboard.charts[k].dispose(); });
    dashboard.charts = {};
    dashboard.data = {};
    dashboard.ready = false;
  }

  $("#login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    var input = { username: form.username.value, password: form.password.value };
    $("#login-error").textContent = "";
    graphql("login", LOGIN, { input: input }).then(function (result) {
      var login = result.data && result.data.login;
      if (!login || !login.token) {
        $("#login-error").textContent = login ? login.userErrors.map(function (e) { return e.message; }).join("；")
          : errorText(result);
        return;
      }
      form.password.value = "";
      sessionStorage.setItem(TOKEN, login.token);
      sessionStorage.setItem(HOME, login.account.organization.id);
      sessionStorage.setItem(WHO, login.account.name + "（" + (LABELS[login.account.role] || login.account.role) + "）");
      dashboard.requests = [];  // the first view is counted from here
      writeState({ org: login.account.organization.id, scope: "SUBTREE", asOf: null });
    });
  });

  $("#logout").addEventListener("click", function () {
    graphql("logout", "mutation Logout {\n  logout { ok }\n}", {}).then(function () { signedOut("已退出登录"); },
      function () { signedOut("已退出登录"); });
  });

  // ------------------------------------------------------------------ the board

  var rendering = null, notice = "";

  function render() {
    if (!sessionStorage.getItem(TOKEN)) { signedOut(); return; }
    var state = dashboard.state = readState();
    var key = JSON.stringify(state);
    if (rendering === key) return;
    rendering = key;
    dashboard.ready = false;
    var started = performance.now();
    $("#login-card").hidden = true;
    $("#board").hidden = false;
    $("#logout").hidden = false;
    $("#who").textContent = sessionStorage.getItem(WHO) || "";
    $("#nav-error").textContent = notice;  // kept across the return to the caller's own organization
    notice = "";
    $("#drill").hidden = true;
    drawControls(state);
    var vars = { id: state.org, scope: state.scope };
    var end = state.asOf || today();
    var done = Promise.all([
      graphql("overview", OVERVIEW, vars).then(drawOverview),
      graphql("charts", CHARTS_QUERY, { id: state.org, scope: state.scope, asOf: state.asOf }).then(drawCharts),
      graphql("balance", BALANCE, { id: state.org, scope: state.scope, from: end.slice(0, 4) + "-01-01", to: end })
        .then(drawBalance)
    ]);
    done.then(function () {
      if (rendering === key) { dashboard.ready = true; rendering = null; dashboard.drawnInMs = performance.now() - started; }
    }, function () { rendering = null; });
  }

  function drawControls(state) {
    $$("[data-scope]").forEach(function (b) { b.classList.toggle("on", b.getAttribute("data-scope") === state.scope); });
    $("#as-of").value = state.asOf || "";
    $("#as-of").max = today();
    var presets = $("#presets");
    presets.textContent = "";
    var year = Number(today().slice(0, 4));
    [["今天", null], [(year - 1) + " 年末", (year - 1) + "-12-31"], [(year - 2) + " 年末", (year - 2) + "-12-31"],
      [(year - 3) + " 年末", (year - 3) + "-12-31"]].forEach(function (p) {
      var b = el("button", { type: "button", "data-as-of": p[1] || "" }, p[0]);
      if ((p[1] || null) === state.asOf) b.classList.add("on");
      presets.appendChild(b);
    });
  }

  function notReachable() {
    notice = $("#nav-error").textContent = "该党组织不存在或不在您的管辖范围内，已返回本组织。";
    var home = sessionStorage.getItem(HOME);
    dashboard.data = {};
    Object.keys(dashboard.charts).forEach(function (k) { dashboard.charts[k].clear(); });
    if (home && dashboard.state.org !== home) {
      setTimeout(function () { writeState({ org: home }); }, 0);
    } else {
      notice = "";
    }
  }

  function drawOverview(result) {
    var org = result.data && result.data.organization;
    dashboard.data.overview = org;
    if (!org) { notReachable(); return; }
    var crumbs = $("#breadcrumb");
    crumbs.textContent = "";
    org.ancestors.forEach(function (a) {
      crumbs.appendChild(el("a", { href: "#", "data-org": a.id }, a.name));
      crumbs.appendChild(el("span", { "class": "sep" }, " › "));
    });
    crumbs.appendChild(el("strong", { id: "current-org" }, org.name));
    var children = $("#children");
    children.textContent = "";
    if (org.children.length) children.appendChild(el("span", { "class": "label" }, "下级党组织："));
    org.children.forEach(function (c) {
      children.appendChild(el("a", { href: "#", "class": "chip", "data-org": c.id }, c.name));
    });
    $("#kpi-count").textContent = org.memberCount;
    $("#kpi-todo").textContent = org.todo.totalCount;
  }

  function chartCard(c) {
    var card = $('#charts [data-chart="' + c.name + '"]');
    if (card) return card;
    card = el("section", { "class": "card", "data-card": "charts", "data-chart": c.name });
    var h = el("h2", null, c.title + " ");
    var toggle = el("button", { type: "button", "class": "show-query" }, "显示查询");
    h.appendChild(toggle);
    card.appendChild(h);
    card.appendChild(el("div", { "class": "chart", id: "chart-" + c.name }));
    var exports = el("div", { "class": "exports" }, "导出：");
    exports.appendChild(el("button", { type: "button", "data-export": "crosstab.xlsx", "data-rows": c.dim }, "Excel"));
    exports.appendChild(el("button", { type: "button", "data-export": "crosstab.docx", "data-rows": c.dim }, "Word"));
    card.appendChild(exports);
    var pre = el("pre", { "class": "query" });
    pre.hidden = true;
    card.appendChild(pre);
    $("#charts").appendChild(card);
    return card;
  }

  function chartFor(name, node) {
    if (!dashboard.charts[name]) {
      var chart = dashboard.charts[name] = echarts.init(node, null, { renderer: "canvas" });
      // settled: drawn and done animating (what a click lands on is where the bar ends).
      chart.on("finished", function () { chart.settled = true; });
    }
    dashboard.charts[name].settled = false;
    return dashboard.charts[name];
  }

  // A refusal other than "not in your branch" (NOT_FOUND, handled by the overview) is shown as it is.
  function showErrors(result) {
    var other = (result.errors || []).filter(function (e) { return !(e.extensions && e.extensions.code === "NOT_FOUND"); });
    if (other.length) $("#nav-error").textContent = other.map(function (e) { return e.message; }).join("；");
  }

  function drawCharts(result) {
    showErrors(result);
    var data = result.data || {};
    var asOf = dashboard.state.asOf;
    CHARTS.forEach(function (c) {
      var card = chartCard(c);
      var table = data[c.name];
      var chart = chartFor(c.name, $(".chart", card));
      chart.off("click");
      if (!table) { chart.clear(); dashboard.data[c.name] = null; return; }
      // One column ('total'): cells[i][0] is row i.
      var items = table.rows.map(function (r, i) { return { key: r.key, label: r.label, value: table.cells[i][0] }; });
      if (c.sorted) items.sort(function (a, b) { return b.value - a.value; });
      dashboard.data[c.name] = { dim: c.dim, items: items, total: table.total };
      var option;
      if (c.type === "pie") {
        option = {
          tooltip: { renderMode: "richText", trigger: "item", formatter: "{b}：{c} 人（{d}%）" },
          legend: { bottom: 0 },
          series: [{ type: "pie", radius: ["35%", "65%"], label: { formatter: "{b}\n{c}" },
            data: items.map(function (it) { return { name: it.label, value: it.value }; }) }]
        };
      } else {
        var horizontal = c.type === "hbar";
        var shown = horizontal ? items.slice().reverse() : items;  // largest on top
        var own = function (l) { return l.indexOf("本级") >= 0; };  // members held by the organization itself
        var cut = commonPrefix(shown.map(function (it) { return it.label; }).filter(function (l) { return !own(l); }));
        var categories = { type: "category", data: shown.map(function (it) {
            return own(it.label) ? "本级" : cut > 1 ? "…" + it.label.slice(cut) : it.label; }),
          axisLabel: horizontal ? { width: 140, overflow: "truncate" } : { interval: 0, rotate: items.length > 6 ? 30 : 0 } };
        var values = { type: "value", minInterval: 1 };
        option = {
          tooltip: { renderMode: "richText", trigger: "axis", axisPointer: { type: "shadow" } },
          grid: { left: horizontal ? 150 : 40, right: 30, top: 20, bottom: 50 },
          xAxis: horizontal ? values : categories,
          yAxis: horizontal ? categories : values,
          series: [{ type: "bar", data: shown.map(function (it) { return it.value; }),
            label: { show: true, position: horizontal ? "right" : "top" } }]
        };
        dashboard.data[c.name].shown = shown;
      }
      chart.setOption(option, true);
      chart.on("click", function (params) {
        var list = c.type === "pie" ? items : dashboard.data[c.name].shown;
        var item = list[params.dataIndex];
        if (item) drill(c, item);
      });
    });
    var first = data[CHARTS[0].name];
    $("#kpi-asof-box").hidden = !asOf;
    if (asOf) {
      $("#kpi-asof-label").textContent = "截至 " + asOf + " 在册人员";
      $("#kpi-asof").textContent = first ? first.total : "–";
    }
  }

  // Child organizations share their parent's long name: label the bars by what differs.
  function commonPrefix(labels) {
    if (labels.length < 2) return 0;
    var n = 0, first = labels[0];
    while (n < first.length && labels.every(function (l) { return l[n] === first[n]; })) n++;
    return n;
  }

  function drawBalance(result) {
    showErrors(result);
    var b = result.data && result.data.memberBalance;
    dashboard.data.balance = b;
    var chart = chartFor("balance", $("#balance-chart"));
    var table = $("#balance-table");
    table.textContent = "";
    if (!b) { chart.clear(); return; }
    var names = ["期初"], base = [0], up = [b.start], down = [0];
    var level = b.start;
    var rows = [["期初（" + b.from + "）", b.start]];
    b.increases.forEach(function (l) {
      names.push(l.label); base.push(level); up.push(l.count); down.push(0); level += l.count;
      rows.push(["增加：" + l.label, l.count]);
    });
    b.decreases.forEach(function (l) {
      level -= l.count; names.push(l.label); base.push(level); up.push(0); down.push(l.count);
      rows.push(["减少：" + l.label, l.count]);
    });
    names.push("期末"); base.push(0); up.push(b.end); down.push(0);
    up[0] = { value: b.start, itemStyle: { color: "#6b7280" } };
    up[up.length - 1] = { value: b.end, itemStyle: { color: "#6b7280" } };
    rows.push(["期末（" + b.to + "）", b.end]);
    chart.setOption({
      tooltip: { renderMode: "richText", trigger: "axis", axisPointer: { type: "shadow" } },
      grid: { left: 50, right: 20, top: 20, bottom: 70 },
      xAxis: { type: "category", data: names, axisLabel: { interval: 0, rotate: 35 } },
      yAxis: { type: "value", minInterval: 1 },
      series: [
        { type: "bar", stack: "w", data: base, itemStyle: { color: "transparent" }, tooltip: { show: false } },
        { type: "bar", stack: "w", name: "人数/增加", data: up, itemStyle: { color: "#c23531" },
          label: { show: true, position: "top", formatter: function (p) { return p.value ? p.value : ""; } } },
        { type: "bar", stack: "w", name: "减少", data: down, itemStyle: { color: "#61a0a8" },
          label: { show: true, position: "bottom", formatter: function (p) { return p.value ? "-" + p.value : ""; } } }
      ]
    }, true);
    var body = el("tbody");
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", null, r[0]));
      tr.appendChild(el("td", { "class": "num" }, r[1]));
      body.appendChild(tr);
    });
    table.appendChild(body);
  }

  // ------------------------------------------------------------------ drill-through

  var drilling = null;

  function drill(c, item) {
    var s = dashboard.state;
    drilling = { chart: c, item: item, vars: { id: s.org, scope: s.scope, asOf: s.asOf, rows: c.dim, row: item.key, first: PAGE, after: null } };
    $("#drill").hidden = false;
    $("#drill-title").textContent = c.title + "：" + item.label + "（" + item.value + " 人）";
    $("#drill-table tbody").textContent = "";
    $("#drill-summary").textContent = "正在加载…";
    dashboard.drill = { ready: false, rows: 0, totalCount: null };
    loadDrill();
    $("#drill").scrollIntoView({ behavior: "instant", block: "start" });
  }

  function loadDrill() {
    var current = drilling;
    graphql("drill", DRILL, current.vars).then(function (result) {
      if (current !== drilling) return;
      var conn = result.data && result.data.crossTab && result.data.crossTab.members;
      if (!conn) { $("#drill-summary").textContent = errorText(result) || "无法加载"; return; }
      var body = $("#drill-table tbody");
      conn.edges.forEach(function (e) {
        var m = e.node, tr = el("tr");
        [m.name, LABELS[m.gender] || m.gender, m.birthDate, m.idNumber, LABELS[m.category] || m.category,
          m.organization.name].forEach(function (v, i) { tr.appendChild(el("td", i === 3 ? { "class": "id" } : null, v)); });
        body.appendChild(tr);
      });
      var shown = body.children.length;
      $("#drill-summary").textContent = "共 " + conn.totalCount + " 人，已显示 " + shown + " 人";
      current.vars = Object.assign({}, current.vars, { after: conn.pageInfo.endCursor });
      $("#drill-more").hidden = !conn.pageInfo.hasNextPage;
      dashboard.drill = { ready: true, rows: shown, totalCount: conn.totalCount, hasNextPage: conn.pageInfo.hasNextPage };
    });
  }

  $("#drill-more").addEventListener("click", function () { if (drilling) { dashboard.drill.ready = false; loadDrill(); } });
  $("#drill-close").addEventListener("click", function () { $("#drill").hidden = true; drilling = null; });

  // ------------------------------------------------------------------ exports (issue 10's routes)

  function exportUrl(name, rows) {
    var s = dashboard.state, params = new URLSearchParams({ organizationId: s.org, scope: s.scope });
    if (name.indexOf("crosstab") === 0) {
      params.set("rows", rows);
      if (s.asOf) params.set("asOf", s.asOf);
    } else if (name.indexOf("balance") === 0) {
      var end = s.asOf || today();
      params.set("from", end.slice(0, 4) + "-01-01");
      params.set("to", end);
    }
    return "/export/" + name + "?" + params.toString();
  }

  // The export routes take the same bearer token: fetch the file with it, then save the blob.
  function download(url, filename) {
    fetch(url, { headers: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN) } }).then(function (response) {
      if (!response.ok) return response.text().then(function (t) { throw new Error(t || response.status); });
      return response.blob();
    }).then(function (blob) {
      var a = el("a", { href: URL.createObjectURL(blob), download: filename });
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    }).catch(function (e) { alert("导出失败：" + e.message); });
  }

  // ------------------------------------------------------------------ events

  document.addEventListener("click", function (event) {
    var t = event.target.closest("button, a");
    if (!t) return;
    if (t.hasAttribute("data-org")) {
      event.preventDefault();
      writeState({ org: t.getAttribute("data-org") });
    } else if (t.hasAttribute("data-scope")) {
      writeState({ scope: t.getAttribute("data-scope") });
    } else if (t.hasAttribute("data-as-of")) {
      writeState({ asOf: t.getAttribute("data-as-of") || null });
    } else if (t.classList.contains("show-query")) {
      var pre = $("pre.query", t.closest(".card"));
      pre.hidden = !pre.hidden;
      t.textContent = pre.hidden ? "显示查询" : "隐藏查询";
    } else if (t.hasAttribute("data-export")) {
      var name = t.getAttribute("data-export");
      download(exportUrl(name, t.getAttribute("data-rows")), name.replace(".", "-" + (t.getAttribute("data-rows") || "") + "."));
    }
  });

  $("#as-of").addEventListener("change", function (event) {
    writeState({ asOf: event.target.value || null });
  });

  CHARTS.forEach(chartCard);  // before the first request, so "显示查询" has its card to fill
  window.addEventListener("hashchange", render);
  window.addEventListener("resize", function () {
    Object.keys(dashboard.charts).forEach(function (k) { dashboard.charts[k].resize(); });
  });

  render();
})();
