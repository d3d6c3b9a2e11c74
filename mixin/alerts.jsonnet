// Generates alerts.yaml (make mixin). Takes an optional top-level argument that
// overrides _config, e.g. --tla-code 'config={deviceDownFor: "10s"}'.
function(config={})
  local mixin = (import 'mixin.libsonnet') + { _config+:: config };
  std.manifestYamlDoc(mixin.prometheusAlerts, indent_array_in_object=false, quote_keys=false)
