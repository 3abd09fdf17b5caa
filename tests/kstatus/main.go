// Command kstatus prints, for each object of a Kubernetes List read from stdin (the output
// of `kubectl get -o json`), the status cli-utils' kstatus library computes for it, as one
// JSON object: {"<name>": {"status": "Current", "message": "..."}}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	input, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	// apimachinery's own decoder: numbers become int64, as kstatus expects.
	var list unstructured.UnstructuredList
	if err := list.UnmarshalJSON(input); err != nil {
		fail("reading the list: %v", err)
	}
	results := map[string]result{}
	for i := range list.Items {
		object := &list.Items[i]
		computed, err := status.Compute(object)
		if err != nil {
			fail("%s: %v", object.GetName(), err)
		}
		results[object.GetName()] = result{Status: computed.Status.String(), Message: computed.Message}
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fail("writing: %v", err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(1)
}
