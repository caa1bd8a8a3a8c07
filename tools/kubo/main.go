// Command ipfs is the real Kubo daemon, built from the pinned module in go.mod.
//
// Cairn builds Kubo from source through the Go module proxy because prebuilt
// binary downloads are not reachable from the build machines. This file only
// calls Kubo's own entry point; nothing of Kubo is changed.
package main

import (
	"os"

	"github.com/ipfs/kubo/cmd/ipfs/kubo"
)

func main() {
	os.Exit(kubo.Start(kubo.BuildDefaultEnv))
}
