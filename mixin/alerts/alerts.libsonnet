// Alerting rules. Every alert has a severity, a summary, a description and a
// runbook_url pointing at its section in mixin/README.md.
{
  local c = $._config,
  local by = std.join(', ', c.deviceLabels),
  local runbook(name) = c.runbookURLPattern % std.asciiLower(name),

  assert std.member(c.deviceLabels, 'device') :
         'deviceLabels must contain "device": the webhook reads it from RestartinatorDeviceDown',

  prometheusAlerts+:: {
    groups+: [
      {
        name: 'restartinator-devices',
        rules: [
          {
            // Multi-vantage: max over every instance that probes the device
            // is 0 only when no instance reached it. This is the alert the
            // example Alertmanager routes to the webhook, so it must keep the
            // device label.
            alert: 'RestartinatorDeviceDown',
            // Not for a device restartinator reports blocked (a device
            // it depends on is down: the parent's own alert is the one to
            // act on) or paused (a person said leave it alone), from any
            // instance. See mixin/README.md for why this and not an
            // Alertmanager inhibition.
            expr: |||
              max by (%(by)s) (restartinator_device_up{%(sel)s}) == 0
              unless on (%(by)s)
              max by (%(by)s) (restartinator_device_state_code{%(sel)s} == %(blocked)d or restartinator_device_state_code{%(sel)s} == %(paused)d)
            ||| % { by: by, sel: c.restartinatorSelector, blocked: c.stateCodes.blocked, paused: c.stateCodes.paused },
            'for': c.deviceDownFor,
            labels: { severity: c.deviceDownSeverity },
            annotations: {
              summary: 'Device is down from every restartinator that probes it.',
              description: 'Device {{ $labels.device }} has failed every probe, from every restartinator instance that probes it, for more than %s.' % c.deviceDownFor,
              runbook_url: runbook('RestartinatorDeviceDown'),
            },
          },
          {
            alert: 'RestartinatorDeviceGaveUp',
            expr: |||
              restartinator_device_state_code{%(sel)s} == %(gaveUp)d
            ||| % { sel: c.restartinatorSelector, gaveUp: c.stateCodes.gave_up },
            'for': c.deviceGaveUpFor,
            labels: { severity: c.criticalSeverity },
            annotations: {
              summary: 'restartinator gave up power-cycling a device.',
              description: 'restartinator {{ $labels.instance }} power-cycled {{ $labels.device }} as often as max_cycles allows within cycle_window and the device is still down; it will not cycle it again until the device answers.',
              runbook_url: runbook('RestartinatorDeviceGaveUp'),
            },
          },
          {
            alert: 'RestartinatorPowerCycleFailing',
            expr: |||
              sum by (job, instance, device) (increase(restartinator_power_cycle_failures_total{%(sel)s}[%(window)s])) > 0
            ||| % { sel: c.restartinatorSelector, window: c.powerCycleFailingWindow },
            'for': c.powerCycleFailingFor,
            labels: { severity: c.criticalSeverity },
            annotations: {
              summary: 'restartinator cannot power-cycle a device.',
              description: 'restartinator {{ $labels.instance }} failed to power-cycle {{ $labels.device }} {{ printf "%%.0f" $value }} time(s) in the last %s.' % c.powerCycleFailingWindow,
              runbook_url: runbook('RestartinatorPowerCycleFailing'),
            },
          },
          {
            alert: 'RestartinatorFrequentCycles',
            expr: |||
              sum by (%(by)s) (increase(restartinator_power_cycles_total{%(sel)s}[%(window)s])) >= %(threshold)d
            ||| % { by: by, sel: c.restartinatorSelector, window: c.frequentCyclesWindow, threshold: c.frequentCyclesThreshold },
            'for': c.frequentCyclesFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'A device needs power-cycling often.',
              description: 'Device {{ $labels.device }} was power-cycled {{ printf "%%.0f" $value }} times in the last %s; power-cycling keeps it alive but something is wrong with it.' % c.frequentCyclesWindow,
              runbook_url: runbook('RestartinatorFrequentCycles'),
            },
          },
        ],
      },
      {
        name: 'restartinator-plugs',
        rules: [
          {
            alert: 'RestartinatorPlugUnreachable',
            expr: |||
              restartinator_plug_up{%(sel)s} == 0
            ||| % { sel: c.restartinatorSelector },
            'for': c.plugUnreachableFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'restartinator cannot reach a smart plug.',
              description: 'Smart plug {{ $labels.plug }} has not answered restartinator {{ $labels.instance }} for more than %s; the devices on it cannot be power-cycled.' % c.plugUnreachableFor,
              runbook_url: runbook('RestartinatorPlugUnreachable'),
            },
          },
        ],
      },
      {
        name: 'restartinator',
        rules: [
          {
            alert: 'RestartinatorHeld',
            expr: |||
              restartinator_guard_holding{%(sel)s} == 1
            ||| % { sel: c.restartinatorSelector },
            'for': c.heldFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'restartinator holds every power cycle.',
              description: 'The guard of restartinator {{ $labels.instance }} has held every power cycle for more than %s: its guard targets do not answer or too many devices fail at once, so it looks cut off from the network itself.' % c.heldFor,
              runbook_url: runbook('RestartinatorHeld'),
            },
          },
          {
            alert: 'RestartinatorNotificationsFailing',
            expr: |||
              sum by (job, instance, channel) (increase(restartinator_notification_failures_total{%(sel)s}[%(window)s])) > 0
            ||| % { sel: c.restartinatorSelector, window: c.notificationsFailingWindow },
            'for': c.notificationsFailingFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'restartinator cannot send notifications on channel {{ $labels.channel }}.',
              description: 'restartinator {{ $labels.instance }} has failed to send notifications on its {{ $labels.channel }} channel for more than %s; `restartinator notify test --channel {{ $labels.channel }}` says why.' % c.notificationsFailingFor,
              runbook_url: runbook('RestartinatorNotificationsFailing'),
            },
          },
          {
            alert: 'RestartinatorConfigReloadFailed',
            expr: |||
              restartinator_config_last_reload_successful{%(sel)s} == 0
            ||| % { sel: c.restartinatorSelector },
            'for': c.configReloadFailedFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'restartinator failed to reload its configuration.',
              description: 'restartinator {{ $labels.instance }} could not load its configuration file for more than %s; it keeps running the previous configuration.' % c.configReloadFailedFor,
              runbook_url: runbook('RestartinatorConfigReloadFailed'),
            },
          },
          {
            // absent() covers a restartinator that vanished from service
            // discovery altogether: then no `up` series is left to be 0.
            alert: 'RestartinatorDown',
            expr: |||
              up{%(sel)s} == 0 or absent(up{%(sel)s})
            ||| % { sel: c.restartinatorSelector },
            'for': c.restartinatorDownFor,
            labels: { severity: c.criticalSeverity },
            annotations: {
              summary: 'Prometheus cannot scrape restartinator.',
              description: 'Prometheus has not scraped restartinator{{ with $labels.instance }} {{ . }}{{ end }} for more than %s (the target is down or missing), so its devices are neither watched by Prometheus nor cycled by it.' % c.restartinatorDownFor,
              runbook_url: runbook('RestartinatorDown'),
            },
          },
        ],
      },
    ],
  },
}
