// Command pause is the sandbox ("infra") container of every pod on the test cluster's
// nodes: it holds the pod's namespaces open and does nothing else. It waits for SIGINT
// or SIGTERM and exits 0; as PID 1 of a shared PID namespace it also reaps the zombies
// that are reparented to it. Built static (CGO off) and packed into an image FROM
// scratch by tests/k8s/cluster, because no registry can be reached here.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: pause (no arguments; exits on SIGINT or SIGTERM)")
		if os.Args[1] == "--help" || os.Args[1] == "-h" {
			os.Exit(0)
		}
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
