// Grafana dashboards: an overview of every device and one device in detail.
local g = import 'lib.libsonnet';

// The supervisor states, as restartinator_device_state_code numbers them
// (config.libsonnet's stateCodes), with their colours on the timelines.
local states = [
  ['unknown', 'text'],
  ['up', 'green'],
  ['failing', 'yellow'],
  ['cycling', 'orange'],
  ['booting', 'blue'],
  ['held', 'purple'],
  ['gave_up', 'red'],
  ['blocked', 'light-purple'],
  ['paused', 'light-blue'],
];

// One series per device already carries the state as its value.
local stateExpr(sel, by) = 'max by (%s) (restartinator_device_state_code{%s})' % [by, sel];

local stateMappings = g.mappings([
  [i, states[i][0], states[i][1]]
  for i in std.range(0, std.length(states) - 1)
]);

local upMappings = g.mappings([[0, 'down', 'red'], [1, 'up', 'green']]);

{
  local c = $._config,

  local jobVariable = g.queryVariable('job', 'Job', 'label_values(restartinator_build_info, %s)' % c.jobLabel),
  local deviceQuery = 'label_values(restartinator_device_info{%s=~"$job"}, device)' % c.jobLabel,
  local job = '%s=~"$job"' % c.jobLabel,
  // Recorded device series carry no job label: keep the devices the job
  // variable selects.
  local inJob = 'and on (device) restartinator_device_info{%s}' % job,
  local links = [{
    type: 'dashboards',
    title: 'restartinator',
    tags: c.dashboardTags,
    asDropdown: true,
    includeVars: true,
    keepTime: true,
    targetBlank: false,
  }],

  grafanaDashboards+:: {
    'restartinator-overview.json':
      local sel = '%s, device=~"$device"' % job;
      local deviceLink = {
        matcher: { id: 'byName', options: 'device' },
        properties: [{ id: 'links', value: [{
          title: 'Device details',
          url: '/d/%s?${__url_time_range}&${datasource:queryparam}&var-device=${__value.raw}' % c.deviceDashboardUID,
        }] }],
      };
      g.dashboard(
        c,
        c.overviewDashboardUID,
        'restartinator / Overview',
        'Every device restartinator watches: state, availability, power cycles and plug power.',
        [g.datasourceVariable, jobVariable, g.queryVariable('device', 'Device', deviceQuery)],
        g.layout([
          [
            g.stat('Devices', 'Devices configured in the selected restartinators.', 'none', [
              g.instant('count(max by (device) (restartinator_device_info{%s}))' % sel),
            ]),
            g.stat('Devices up', 'Devices that answered the last probe of at least one restartinator.', 'none', [
              g.instant('count(max by (device) (restartinator_device_up{%s}) == 1) or vector(0)' % sel),
            ]) + g.thresholds([[null, 'green']]),
            g.stat('Devices down', 'Devices that failed the last probe of every restartinator that probes them.', 'none', [
              g.instant('count(max by (device) (restartinator_device_up{%s}) == 0) or vector(0)' % sel),
            ]) + g.thresholds([[null, 'green'], [1, 'red']]),
            g.stat('Power cycles (24h)', 'Power cycles in the last 24 hours, by any trigger.', 'none', [
              g.instant('round(sum(increase(restartinator_power_cycles_total{%s}[24h]))) or vector(0)' % sel),
            ]) + g.thresholds([[null, 'green'], [1, 'yellow']]),
            g.stat('Guard', 'Whether a guard holds every power cycle because its restartinator looks cut off from the network.', 'none', [
              g.instant('max(restartinator_guard_holding{%s})' % job),
            ]) + g.mappings([[0, 'not holding', 'green'], [1, 'holding', 'red']]),
            g.stat('restartinators up', 'restartinator instances Prometheus scrapes successfully.', 'none', [
              g.instant('sum(up{%s})' % job),
            ]) + g.thresholds([[null, 'red'], [1, 'green']]),
          ],
          [
            g.stat('Devices blocked', 'Devices that fail while a device they depend on (depends_on) is down: not cycled, not alerted.', 'none', [
              g.instant('count(count by (device) (restartinator_device_state_code{%s} == %d)) or vector(0)' % [sel, c.stateCodes.blocked]),
            ]) + g.thresholds([[null, 'green'], [1, 'purple']]),
            g.stat('Devices paused', 'Devices paused through the API or in a maintenance window: probed, never cycled automatically.', 'none', [
              g.instant('count(count by (device) (restartinator_device_state_code{%s} == %d)) or vector(0)' % [sel, c.stateCodes.paused]),
            ]) + g.thresholds([[null, 'green'], [1, 'blue']]),
          ],
          [
            g.stateTimeline('Device states', 'The supervisor state of each device, per restartinator instance.', [
              g.query(stateExpr(sel, 'instance, device'), '{{device}} ({{instance}})'),
            ], h=10) + stateMappings,
          ],
          [
            g.tablePanel(
              'Availability',
              'Share of time at least one restartinator reached the device, and power cycles in the last day (recording rules).',
              'percentunit',
              [
                g.table('device:restartinator_device_up:avg_over_time_1d{device=~"$device"} %s' % inJob),
                g.table('device:restartinator_device_up:avg_over_time_7d{device=~"$device"} %s' % inJob),
                g.table('device:restartinator_power_cycles:increase_1d{device=~"$device"} %s' % inJob),
              ],
              { 'Value #A': 'Availability (1d)', 'Value #B': 'Availability (7d)', 'Value #C': 'Power cycles (1d)' },
            ) + {
              fieldConfig+: { overrides: [
                g.unitOverride('Power cycles (1d)', 'none') + { properties+: [{ id: 'decimals', value: 0 }] },
                deviceLink,
              ] },
              options+: { sortBy: [{ displayName: 'Availability (1d)', desc: false }] },
            },
            g.bars('Power cycles', 'Power cycles per interval, by device and trigger.', 'none', [
              g.query('sum by (device, trigger) (increase(restartinator_power_cycles_total{%s}[$__interval]))' % sel, '{{device}} ({{trigger}})'),
            ]),
          ],
          [
            g.tablePanel(
              'Recent power cycles',
              'The last power cycle of each device, with the cycles and failed cycles of the last 24 hours.',
              'dateTimeAsIso',
              [
                g.table('max by (device) (restartinator_last_power_cycle_timestamp_seconds{%s} > 0) * 1000' % sel),
                g.table('round(sum by (device) (increase(restartinator_power_cycles_total{%s}[24h])))' % sel),
                g.table('round(sum by (device) (increase(restartinator_power_cycle_failures_total{%s}[24h])))' % sel),
              ],
              { 'Value #A': 'Last power cycle', 'Value #B': 'Power cycles (24h)', 'Value #C': 'Failed (24h)' },
            ) + {
              fieldConfig+: { overrides: [
                g.unitOverride('Power cycles (24h)', 'none'),
                g.unitOverride('Failed (24h)', 'none'),
                deviceLink,
              ] },
              options+: { sortBy: [{ displayName: 'Last power cycle', desc: true }] },
            },
            g.timeseries('Plug power', 'Power drawn through each plug outlet.', 'watt', [
              g.query('restartinator_plug_power_watts{%s}' % job, '{{plug}} {{outlet}}'),
            ]) + { fieldConfig+: { defaults+: { min: 0 } } },
          ],
          [
            g.timeseries('Probe failure ratio', 'Share of probes that failed, by probe type.', 'percentunit', [
              g.query(|||
                sum by (type) (rate(restartinator_probe_failures_total{%(job)s}[$__rate_interval]))
                  /
                sum by (type) (rate(restartinator_probes_total{%(job)s}[$__rate_interval]))
              ||| % { job: job }, '{{type}}'),
            ]) + { fieldConfig+: { defaults+: { min: 0, max: 1 } } },
            g.bars('Webhook alerts', 'Alerts received from Alertmanager per interval, by action and result.', 'none', [
              g.query('sum by (action, result) (increase(restartinator_webhook_alerts_total{%s}[$__interval]))' % job, '{{action}} {{result}}'),
            ]),
          ],
          [
            g.bars('Notifications', 'Notifications per interval, by channel: delivered, failed attempts (retried) and dropped (queue full or refused for good).', 'none', [
              g.query('sum by (channel) (increase(restartinator_notifications_total{%s}[$__interval]))' % job, '{{channel}} delivered'),
              g.query('sum by (channel) (increase(restartinator_notification_failures_total{%s}[$__interval]))' % job, '{{channel}} failed'),
              g.query('sum by (channel) (increase(restartinator_notifications_dropped_total{%s}[$__interval]))' % job, '{{channel}} dropped'),
            ]),
            g.timeseries('Notification queues', 'Notifications waiting for delivery, by channel; a queue that only grows is a channel that is down.', 'none', [
              g.query('sum by (channel) (restartinator_notification_queue_length{%s})' % job, '{{channel}}'),
            ]) + { fieldConfig+: { defaults+: { min: 0, decimals: 0 } } },
          ],
        ]),
        links,
      ),

    'restartinator-device.json':
      local sel = '%s, device="$device"' % job;
      // The plug outlet the device hangs on.
      local onOutlet = 'and on (instance, plug, outlet) restartinator_device_info{%s}' % sel;
      g.dashboard(
        c,
        c.deviceDashboardUID,
        'restartinator / Device',
        'One device: probes, state history, power cycles and the power drawn through its plug.',
        [g.datasourceVariable, jobVariable, g.queryVariable('device', 'Device', deviceQuery, multi=false)],
        g.layout([
          [
            g.stat('State', 'The current supervisor state.', 'none', [
              g.instant(stateExpr(sel, 'device')),
            ]) + stateMappings,
            g.stat('Probe', 'The last probe result from the restartinator that reaches the device.', 'none', [
              g.instant('max(restartinator_device_up{%s})' % sel),
            ]) + upMappings,
            g.stat('Consecutive failures', 'Failed probes in a row.', 'none', [
              g.instant('max(restartinator_device_consecutive_failures{%s})' % sel),
            ]) + g.thresholds([[null, 'green'], [1, 'yellow']]),
            g.stat('Availability (1d)', 'Share of the last day at least one restartinator reached the device.', 'percentunit', [
              g.instant('device:restartinator_device_up:avg_over_time_1d{device="$device"}'),
            ]) + g.thresholds([[null, 'red'], [0.99, 'yellow'], [0.999, 'green']]) + { fieldConfig+: { defaults+: { decimals: 2 } } },
            g.stat('Availability (7d)', 'Share of the last week at least one restartinator reached the device.', 'percentunit', [
              g.instant('device:restartinator_device_up:avg_over_time_7d{device="$device"}'),
            ]) + g.thresholds([[null, 'red'], [0.99, 'yellow'], [0.999, 'green']]) + { fieldConfig+: { defaults+: { decimals: 2 } } },
            g.stat('Last power cycle', 'When the device was last power-cycled.', 'dateTimeFromNow', [
              g.instant('max(restartinator_last_power_cycle_timestamp_seconds{%s} > 0) * 1000' % sel),
            ]),
          ],
          [
            g.stateTimeline('State history', 'The supervisor state, per restartinator instance.', [
              g.query(stateExpr(sel, 'instance'), '{{instance}}'),
            ], h=6) + stateMappings,
          ],
          [
            g.timeseries('Probe latency', 'How long the last probe took, per restartinator instance.', 's', [
              g.query('restartinator_device_probe_duration_seconds{%s}' % sel, '{{instance}}'),
            ]) + { fieldConfig+: { defaults+: { min: 0 } } },
            g.timeseries('Consecutive failures', 'Failed probes in a row, per restartinator instance.', 'none', [
              g.query('restartinator_device_consecutive_failures{%s}' % sel, '{{instance}}'),
            ]) + { fieldConfig+: { defaults+: { min: 0, decimals: 0 } } },
          ],
          [
            g.timeseries('Power draw', 'Power drawn through the plug outlet the device hangs on.', 'watt', [
              g.query('restartinator_plug_power_watts{%s} %s' % [job, onOutlet], '{{plug}} {{outlet}}'),
            ]) + { fieldConfig+: { defaults+: { min: 0 } } },
            g.bars('Energy', 'Energy used through the plug outlet per interval.', 'watth', [
              g.query('increase(restartinator_plug_energy_joules_total{%s}[$__interval]) / 3600 %s' % [job, onOutlet], '{{plug}} {{outlet}}'),
            ]) + { fieldConfig+: { defaults+: { decimals: null } } },
          ],
          [
            g.timeseries('Voltage', 'Mains voltage at the plug outlet.', 'volt', [
              g.query('restartinator_plug_voltage_volts{%s} %s' % [job, onOutlet], '{{plug}} {{outlet}}'),
            ]),
            g.timeseries('Current', 'Current through the plug outlet.', 'amp', [
              g.query('restartinator_plug_current_amperes{%s} %s' % [job, onOutlet], '{{plug}} {{outlet}}'),
            ]) + { fieldConfig+: { defaults+: { min: 0 } } },
          ],
          [
            g.bars('Power cycles', 'Power cycles per interval, by trigger; failed cycles count separately.', 'none', [
              g.query('sum by (trigger) (increase(restartinator_power_cycles_total{%s}[$__interval]))' % sel, '{{trigger}}'),
              g.query('sum by (reason) (increase(restartinator_power_cycle_failures_total{%s}[$__interval]))' % sel, 'failed ({{reason}})'),
            ]),
            g.stateTimeline('Relay', 'Whether the plug outlet supplies power.', [
              g.query('restartinator_plug_relay_on{%s} %s' % [job, onOutlet], '{{plug}} {{outlet}}'),
            ], w=12, h=8) + g.mappings([[0, 'off', 'red'], [1, 'on', 'green']]),
          ],
        ]),
        links,
      ) + {
        annotations+: { list+: [{
          name: 'Power cycles',
          datasource: g.datasource,
          enable: true,
          hide: false,
          iconColor: 'orange',
          expr: 'changes(restartinator_last_power_cycle_timestamp_seconds{%s}[1m]) > 0' % sel,
          step: '1m',
          titleFormat: 'Power cycle',
          textFormat: '{{device}} power-cycled by {{instance}}',
        }] },
      },
  },
}
