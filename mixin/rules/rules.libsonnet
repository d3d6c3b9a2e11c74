// Recording rules the dashboards read, named level:metric:operations.
{
  local c = $._config,
  local by = std.join(', ', c.deviceLabels),

  prometheusRules+:: {
    groups+: [
      {
        name: 'restartinator.rules',
        interval: c.recordingRulesInterval,
        rules: [
          {
            // 1 while at least one instance reaches the device: the
            // multi-vantage view of RestartinatorDeviceDown.
            record: 'device:restartinator_device_up:max',
            expr: |||
              max by (%(by)s) (restartinator_device_up{%(sel)s})
            ||| % { by: by, sel: c.restartinatorSelector },
          },
          {
            record: 'device:restartinator_power_cycles:increase_1d',
            expr: |||
              sum by (%(by)s) (increase(restartinator_power_cycles_total{%(sel)s}[1d]))
            ||| % { by: by, sel: c.restartinatorSelector },
          },
        ],
      },
      {
        // Long ranges over the series recorded above; they change slowly.
        name: 'restartinator.availability.rules',
        interval: c.longRecordingRulesInterval,
        rules: [
          {
            record: 'device:restartinator_device_up:avg_over_time_%s' % range,
            expr: |||
              avg_over_time(device:restartinator_device_up:max[%s])
            ||| % range,
          }
          for range in ['1d', '7d']
        ],
      },
    ],
  },
}
