// Short durations for an end-to-end test that runs Prometheus with a scrape
// and evaluation interval of a few seconds. Build rules with them:
//
//   go tool jsonnet -S mixin/alerts.jsonnet \
//     --tla-code-file config=mixin/tests/short-durations.libsonnet
//
// mixin-check builds and checks them too, so they stay valid.
{
  deviceDownFor: '10s',
  deviceGaveUpFor: '0s',
  powerCycleFailingWindow: '1m',
  powerCycleFailingFor: '0s',
  plugUnreachableFor: '10s',
  heldFor: '10s',
  frequentCyclesWindow: '5m',
  frequentCyclesFor: '0s',
  notificationsFailingWindow: '1m',
  notificationsFailingFor: '10s',
  configReloadFailedFor: '10s',
  restartinatorDownFor: '10s',
  recordingRulesInterval: '5s',
  longRecordingRulesInterval: '5s',
}
