// Command network-policies enforces Kubernetes NetworkPolicies on the local real node with
// the controller of sigs.k8s.io/kube-network-policies (its pkg/networkpolicy, as released):
// new connections of the pods that a policy selects go through an nfqueue, and the
// controller accepts or drops them by the policies.
//
// The released command reads only the in-cluster configuration (a ServiceAccount token at a
// fixed path), which a process on the host has not got; this entry point takes a kubeconfig
// instead, and otherwise starts the same controller with the same informers. The admin
// network policy APIs are off.
//
// NRI stays "enabled": v0.8.0 asks its NRI plugin for every IP its informer does not know
// (a pod that has just started) and dereferences the plugin without a nil check, so with NRI
// disabled the first such packet crashes the controller. Containerd 1.6 has no NRI socket,
// so the plugin never connects (it logs that once) and answers nothing: the Pod IPs come
// from the API server.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	nodeName := flag.String("node-name", "", "the Node whose pods are policed")
	queueID := flag.Int("nfqueue-id", 100, "the nfqueue the controller reads")
	tableName := flag.String("table-name", "kube-network-policies", "the nftables table it owns")
	klog.InitFlags(nil)
	flag.Parse()
	if *kubeconfig == "" || *nodeName == "" {
		fmt.Fprintln(os.Stderr, "usage: network-policies --kubeconfig FILE --node-name NODE")
		os.Exit(2)
	}
	if err := run(*kubeconfig, *nodeName, *queueID, *tableName); err != nil {
		fmt.Fprintln(os.Stderr, "network-policies:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, nodeName string, queueID int, tableName string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(clientset, 0)
	controller, err := networkpolicy.NewController(
		clientset,
		factory.Networking().V1().NetworkPolicies(),
		factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(),
		nil, nil, nil, nil,
		networkpolicy.Config{
			QueueID:             queueID,
			NodeName:            nodeName,
			NFTableName:         tableName,
			NetfilterBug1766Fix: true,
		},
	)
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	// Run removes its nftables table when the context ends (SIGTERM).
	return controller.Run(ctx)
}
