// Generates dashboards_out/*.json (make mixin): one file per dashboard. The
// optional top-level argument overrides _config.
function(config={})
  (import 'configured.libsonnet')(config).grafanaDashboards
