package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// newHCLogger returns an hclog.Logger, as raft requires, whose lines end up
// in lg with their level and fields kept.
func newHCLogger(lg *slog.Logger, name string) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       name,
		Level:      hclog.Info,
		JSONFormat: true,
		Output:     &slogWriter{lg: lg},
	})
}

// slogWriter decodes hclog's JSON lines into slog records.
type slogWriter struct{ lg *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimSpace(p), []byte("\n")) {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			w.lg.Info(string(line))
			continue
		}
		msg, _ := rec["@message"].(string)
		lvl := slog.LevelInfo
		switch rec["@level"] {
		case "trace", "debug":
			lvl = slog.LevelDebug
		case "warn":
			lvl = slog.LevelWarn
		case "error":
			lvl = slog.LevelError
		}
		attrs := make([]slog.Attr, 0, len(rec))
		for k, v := range rec {
			switch k {
			case "@message", "@level", "@timestamp", "@module":
				continue
			}
			attrs = append(attrs, slog.Any(k, v))
		}
		w.lg.LogAttrs(context.Background(), lvl, msg, attrs...)
	}
	return len(p), nil
}
