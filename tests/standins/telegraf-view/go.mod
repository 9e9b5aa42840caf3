module polysource.test/telegraf-view

go 1.24

require github.com/influxdata/telegraf v1.39.3
