// Command mock-upstream serves the fake model provider of package
// gateway/mockupstream, for demos and load tests.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/tensorgate/tensorgate/gateway/mockupstream"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	latency := flag.Duration("latency", 0, "delay before each answer")
	chunks := flag.Int("chunks", 3, "content chunks per stream")
	chunkDelay := flag.Duration("chunk-delay", 0, "delay between stream chunks")
	failStatus := flag.Int("fail-status", 0, "answer every call with this HTTP status")
	flag.Parse()
	m := mockupstream.New(mockupstream.Behavior{Latency: *latency, Chunks: *chunks, ChunkDelay: *chunkDelay, FailStatus: *failStatus})
	fmt.Fprintf(os.Stderr, "mock upstream on http://%s (OpenAI and Anthropic formats; POST /mock/behavior to change it)\n", *addr)
	srv := &http.Server{Addr: *addr, Handler: m, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}
