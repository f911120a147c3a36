package admin

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tensorgate/tensorgate/storage/diskguard"
)

// DiskStatus reports the node's disk against its reserve: Err is non-nil
// (wrapping diskguard.ErrFull) while some directory is below it.
type DiskStatus interface {
	Err() error
	Reserve() int64
	Status() []diskguard.DirStatus
}

// addDisk adds the disk's state to a health answer: every watched
// directory with its free bytes, and while full, which one and why.
func addDisk(body map[string]any, disk DiskStatus) {
	if disk == nil {
		return
	}
	body["disk"] = map[string]any{"reserve_bytes": disk.Reserve(), "dirs": disk.Status()}
	var fe *diskguard.FullError
	if errors.As(disk.Err(), &fe) {
		body["reason"] = "the disk is full: " + fe.Error() + "; the node takes no new work until space is freed"
		body["full_dir"] = fe.Dir
		body["free_bytes"] = fe.Free
	}
}

// WaitingHandler serves a node whose storage is not open yet, because its
// disk is below the reserve or it is still opening: health says which
// (503 disk_full or starting), metrics are served, every other call
// answers 503. The caller routes the data plane elsewhere.
func WaitingHandler(nodeID, version string, disk DiskStatus, g prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		status := "starting"
		if disk != nil && disk.Err() != nil {
			status = "disk_full"
		}
		body := map[string]any{"status": status, "node_id": nodeID, "leader": "", "version": version}
		addDisk(body, disk)
		writeJSON(w, http.StatusServiceUnavailable, body)
	})
	metrics := promhttp.HandlerFor(g, promhttp.HandlerOpts{})
	mux.Handle("GET /api/metrics/prom", metrics)
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		err := &apiError{Status: http.StatusServiceUnavailable, Type: "server_error", Code: "starting",
			Message: "this node has not opened its storage yet; see /api/health"}
		if disk != nil && disk.Err() != nil {
			err = toAPIError(disk.Err())
		}
		writeError(w, r, slog.New(slog.DiscardHandler), err)
	})
	return mux
}
