// A few builders for Grafana dashboard JSON, in place of grafonnet. Every
// panel and query uses the dashboard's datasource variable, and every panel
// states its unit.
{
  datasource:: { type: 'prometheus', uid: '${datasource}' },

  // A range query; instant() turns it into an instant one, table() into a
  // table-format instant one.
  query(expr, legend='', refId='A'):: {
    datasource: $.datasource,
    expr: expr,
    legendFormat: legend,
    refId: refId,
    range: true,
    instant: false,
  },
  instant(expr, legend='', refId='A'):: $.query(expr, legend, refId) { range: false, instant: true },
  table(expr, refId='A'):: $.instant(expr, '', refId) { format: 'table' },

  // Gives each query a refId in order: A, B, C ...
  local refIds(queries) = [
    queries[i] { refId: std.char(std.codepoint('A') + i) }
    for i in std.range(0, std.length(queries) - 1)
  ],

  // w and h are the panel's size on the 24-column grid; layout() places it.
  panel(type, title, description, unit, queries, w, h):: {
    type: type,
    title: title,
    description: description,
    datasource: $.datasource,
    targets: refIds(queries),
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    options: {},
    gridPos: { w: w, h: h },
  },

  legendOptions:: { displayMode: 'list', placement: 'bottom', showLegend: true },

  timeseries(title, description, unit, queries, w=12, h=8)::
    $.panel('timeseries', title, description, unit, queries, w, h) {
      fieldConfig+: { defaults+: { custom: {
        drawStyle: 'line',
        lineWidth: 1,
        fillOpacity: 10,
        showPoints: 'never',
        spanNulls: false,
      } } },
      options: { legend: $.legendOptions, tooltip: { mode: 'multi', sort: 'desc' } },
    },

  // Counts per interval, drawn as bars.
  bars(title, description, unit, queries, w=12, h=8)::
    $.timeseries(title, description, unit, queries, w, h) {
      interval: '5m',
      fieldConfig+: { defaults+: { decimals: 0, custom+: { drawStyle: 'bars', fillOpacity: 80, stacking: { mode: 'normal', group: 'A' } } } },
    },

  stat(title, description, unit, queries, w=4, h=4)::
    $.panel('stat', title, description, unit, queries, w, h) {
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'none',
        justifyMode: 'auto',
        orientation: 'auto',
        textMode: 'auto',
      },
    },

  // Colours a panel by thresholds: steps is [[value or null, colour], ...].
  thresholds(steps):: {
    fieldConfig+: { defaults+: {
      color: { mode: 'thresholds' },
      thresholds: { mode: 'absolute', steps: [{ value: s[0], color: s[1] } for s in steps] },
    } },
  },

  // Value mappings: values is [[value, text, colour], ...].
  mappings(values):: {
    fieldConfig+: { defaults+: {
      color: { mode: 'thresholds' },
      mappings: [{
        type: 'value',
        options: {
          [std.toString(v[0])]: { text: v[1], color: v[2], index: i }
          for i in std.range(0, std.length(values) - 1)
          for v in [values[i]]
        },
      }],
    } },
  },

  stateTimeline(title, description, queries, w=24, h=8)::
    $.panel('state-timeline', title, description, 'none', queries, w, h) {
      fieldConfig+: { defaults+: { custom: { lineWidth: 0, fillOpacity: 80 } } },
      options: {
        mergeValues: true,
        showValue: 'auto',
        alignValue: 'left',
        rowHeight: 0.9,
        legend: $.legendOptions,
        tooltip: { mode: 'single', sort: 'none' },
      },
    },

  // Instant queries merged into one row per series, the Value columns
  // renamed: columns is { 'Value #A': 'Name', ... }, hidden lists the columns
  // to drop.
  tablePanel(title, description, unit, queries, columns, hidden=['Time'], w=12, h=8)::
    $.panel('table', title, description, unit, queries, w, h) {
      options: { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], fields: '' } },
      transformations: [
        { id: 'merge', options: {} },
        { id: 'organize', options: {
          excludeByName: { [c]: true for c in hidden },
          renameByName: columns,
          indexByName: {},
        } },
      ],
    },

  // Sets the unit of one table column (or series) by its display name.
  unitOverride(name, unit):: {
    matcher: { id: 'byName', options: name },
    properties: [{ id: 'unit', value: unit }],
  },

  // Places panels on the grid: rows is a list of lists of panels; panels in
  // a row go left to right, each row starts below the tallest panel of the
  // row before. Panel ids follow the order.
  layout(rows)::
    local heights = [std.foldl(std.max, [p.gridPos.h for p in row], 0) for row in rows];
    local ys = std.foldl(function(acc, h) acc + [acc[std.length(acc) - 1] + h], heights, [0]);
    local placed = std.flattenArrays([
      local row = rows[r];
      local xs = std.foldl(function(acc, p) acc + [acc[std.length(acc) - 1] + p.gridPos.w], row, [0]);
      [row[i] { gridPos+: { x: xs[i], y: ys[r] } } for i in std.range(0, std.length(row) - 1)]
      for r in std.range(0, std.length(rows) - 1)
    ]);
    [placed[i] { id: i + 1 } for i in std.range(0, std.length(placed) - 1)],

  // Template variables.
  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    refresh: 1,
    regex: '',
    options: [],
  },

  queryVariable(name, label, query, multi=true):: {
    name: name,
    label: label,
    type: 'query',
    datasource: $.datasource,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    definition: query,
    current: {},
    hide: 0,
    refresh: 2,
    regex: '',
    sort: 1,
    options: [],
    multi: multi,
    includeAll: multi,
    [if multi then 'allValue']: '.+',
  },

  dashboard(c, uid, title, description, variables, panels, links=[]):: {
    uid: uid,
    title: title,
    description: description,
    tags: c.dashboardTags,
    timezone: c.dashboardTimezone,
    refresh: c.dashboardRefresh,
    schemaVersion: 39,
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    time: { from: 'now-24h', to: 'now' },
    timepicker: {},
    annotations: { list: [{
      builtIn: 1,
      datasource: { type: 'grafana', uid: '-- Grafana --' },
      enable: true,
      hide: true,
      iconColor: 'rgba(0, 211, 255, 1)',
      name: 'Annotations & Alerts',
      type: 'dashboard',
    }] },
    links: links,
    templating: { list: variables },
    panels: panels,
  },
}
