// Generates dashboards_out/*.json (make mixin): one file per dashboard.
function(config={})
  local mixin = (import 'mixin.libsonnet') + { _config+:: config };
  mixin.grafanaDashboards
