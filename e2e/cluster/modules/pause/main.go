// The pod sandbox's pause process: it holds the pod's namespaces and reaps nothing else. A static Go
// binary stands in for Kubernetes' C pause so the sandbox image is built without a registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	<-signals
}
