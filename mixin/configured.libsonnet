// The mixin with overrides merged into _config, for the generators' `config`
// top-level argument. A misspelt setting is an error, not silently ignored.
function(config={})
  local mixin = import 'mixin.libsonnet';
  local unknown = [k for k in std.objectFields(config) if !std.objectHasAll(mixin._config, k)];
  assert unknown == [] : 'unknown mixin config settings: %s (see config.libsonnet)' % std.join(', ', unknown);
  mixin { _config+:: config }
