// Generates rules.yaml (make mixin). The optional top-level argument overrides
// _config, e.g. --tla-code 'config={deviceDownFor: "10s"}'.
function(config={})
  std.manifestYamlDoc(
    (import 'configured.libsonnet')(config).prometheusRules,
    indent_array_in_object=false,
    quote_keys=false,
  )
