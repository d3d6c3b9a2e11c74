// Every dashboard query as a recording rule, with Grafana's variables filled
// in, so `promtool check rules` parses the dashboards' PromQL (mixin-check).
local mixin = import '../mixin.libsonnet';

local fill(expr) = std.foldl(
  function(e, kv) std.strReplace(e, kv[0], kv[1]),
  [
    ['$__rate_interval', '5m'],
    ['$__interval', '5m'],
    ['$__range', '1d'],
    ['$job', '.+'],
    ['$device', 'device'],
  ],
  expr,
);

local panels(ps) = std.flattenArrays([[p] + panels(std.get(p, 'panels', [])) for p in ps]);

local exprs = std.flattenArrays([
  local d = mixin.grafanaDashboards[name];
  [t.expr for p in panels(d.panels) for t in std.get(p, 'targets', [])] +
  [a.expr for a in d.annotations.list if std.objectHas(a, 'expr')]
  for name in std.objectFields(mixin.grafanaDashboards)
]);

std.manifestYamlDoc({
  groups: [{
    name: 'dashboard-queries',
    rules: [
      { record: 'dashboard_query_%d' % i, expr: fill(exprs[i]) }
      for i in std.range(0, std.length(exprs) - 1)
    ],
  }],
}, indent_array_in_object=false, quote_keys=false)
