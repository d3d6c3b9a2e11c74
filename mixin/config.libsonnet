// Everything a user may want to change about the mixin. Override a field by
// mixing in a new _config, for example:
//
//   (import 'mixin.libsonnet') + { _config+:: { deviceDownFor: '10m' } }
//
// or, for the generated files, with a top-level argument:
//
//   go tool jsonnet -S --tla-code 'config={deviceDownFor: "10s"}' alerts.jsonnet
{
  _config+:: {
    // Selects restartinator's own series. Every query in the mixin starts
    // from this selector, so narrow it (or widen it with a regex) when
    // restartinator runs under another job name.
    restartinatorSelector: 'job="restartinator"',

    // restartinator_device_state_code's values: one series per device
    // whose value is its supervisor state (collector.States in the code;
    // new states get new codes, existing codes never change).
    stateCodes: {
      unknown: 0,
      up: 1,
      failing: 2,
      cycling: 3,
      booting: 4,
      held: 5,
      gave_up: 6,
      blocked: 7,
      paused: 8,
    },

    // The labels that identify one device across restartinator instances.
    // Device series are aggregated by these labels, dropping `instance`, so
    // a device counts as down only when it is down from every instance that
    // probes it (a multi-vantage check). Add a label such as `site` when
    // device names repeat across sites. Must contain `device`: the webhook
    // reads it from RestartinatorDeviceDown to know what to cycle.
    deviceLabels: ['device'],

    // How long a device must fail every probe, from every instance, before
    // RestartinatorDeviceDown fires and Alertmanager asks the webhook to
    // power-cycle it. Too short cycles devices that merely rebooted.
    deviceDownFor: '5m',
    // Severity of RestartinatorDeviceDown. Alertmanager routes on it, so keep
    // it in step with the route that sends the alert to the webhook.
    deviceDownSeverity: 'warning',

    // How long a device may stay in the gave_up state (max_cycles reached in
    // cycle_window) before RestartinatorDeviceGaveUp fires. The device needs
    // a human from here on.
    deviceGaveUpFor: '1m',

    // RestartinatorPowerCycleFailing fires when a power cycle failed (the
    // plug refused, timed out, or never switched) within this window, and
    // keeps firing until the window holds no failure.
    powerCycleFailingWindow: '30m',
    powerCycleFailingFor: '0m',

    // How long a plug may fail to answer restartinator's polls before
    // RestartinatorPlugUnreachable fires. While a plug is unreachable, its
    // devices cannot be cycled.
    plugUnreachableFor: '10m',

    // How long the guard may hold every cycle (the monitor looks cut off
    // from the network) before RestartinatorHeld fires. Short holds happen
    // when the uplink blips; long ones mean restartinator cannot help.
    heldFor: '15m',

    // RestartinatorFrequentCycles fires when a device was power-cycled at
    // least this many times, by any trigger and from any instance, within
    // the window: cycling keeps it alive but something is wrong with it.
    frequentCyclesThreshold: 4,
    frequentCyclesWindow: '1d',
    frequentCyclesFor: '0m',

    // RestartinatorNotificationsFailing fires when notifications kept failing
    // (at least one failure in every window) for this long.
    notificationsFailingWindow: '15m',
    notificationsFailingFor: '15m',

    // How long the last configuration reload may stay failed before
    // RestartinatorConfigReloadFailed fires. restartinator keeps running the
    // old configuration meanwhile.
    configReloadFailedFor: '10m',

    // How long Prometheus may fail to scrape restartinator (or find no target
    // at all) before RestartinatorDown fires.
    restartinatorDownFor: '5m',

    // Severities of the other alerts: critical when devices are left without
    // protection, warning otherwise.
    criticalSeverity: 'critical',
    warningSeverity: 'warning',

    // runbook_url annotation: the README anchor of each alert. GitHub makes
    // an anchor by lower-casing the heading.
    runbookURLPattern: 'https://github.com/restartinator/restartinator/blob/main/mixin/README.md#%s',

    // Evaluation interval of the recording rule groups. The 1d and 7d
    // availability rules read long ranges, so they run less often.
    recordingRulesInterval: '1m',
    longRecordingRulesInterval: '5m',

    // Dashboards.
    dashboardTags: ['restartinator'],
    dashboardRefresh: '1m',
    dashboardTimezone: 'browser',
    // Grafana dashboard uids: stable, so links to a dashboard keep working
    // after it is regenerated.
    overviewDashboardUID: 'restartinator-overview',
    deviceDashboardUID: 'restartinator-device',
    // Label of restartinator's scrape job, offered as the dashboards' job
    // variable.
    jobLabel: 'job',
  },
}
