module polysource.test/grafana-standin

go 1.21
