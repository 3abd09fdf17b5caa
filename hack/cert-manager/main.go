// Command cert-manager-controller runs cert-manager's own controllers (the public packages of
// github.com/cert-manager/cert-manager, as released) against a cluster.
//
// cert-manager's release binary lives in a nested module of its repository that the Go module
// proxy cannot serve, so the local cluster builds this small entry point instead: it registers
// the controllers a self-signed or CA issuer needs (issuers, the Certificate lifecycle, the
// CertificateRequest approver and signers, and the Ingress shim that turns an Ingress's
// cert-manager.io annotations into a Certificate), starts them and their informers, and runs
// until SIGTERM. ACME, Vault, Venafi and Gateway API are left out: nothing here can reach them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	controllerpkg "github.com/cert-manager/cert-manager/pkg/controller"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// The controllers to run, by the names they register under.
var wanted = []string{
	"issuers", "clusterissuers",
	"certificates-trigger", "certificates-issuing", "certificates-key-manager",
	"certificates-request-manager", "certificates-readiness", "certificates-revision-manager",
	"certificaterequests-approver", "certificaterequests-issuer-ca",
	"certificaterequests-issuer-selfsigned", "ingress-shim",
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster")
	resourceNamespace := flag.String("cluster-resource-namespace", "cert-manager",
		"namespace of the Secrets ClusterIssuers refer to")
	list := flag.Bool("list", false, "print the controllers this binary knows and exit")
	flag.Parse()
	if *list {
		for name := range controllerpkg.Known() {
			fmt.Println(name)
		}
		return
	}
	if err := run(*kubeconfig, *resourceNamespace); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		os.Exit(1)
	}
}

func run(kubeconfig, resourceNamespace string) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	options := controllerpkg.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   50,
		KubernetesAPIBurst: 100,
		IssuerOptions: controllerpkg.IssuerOptions{
			ClusterResourceNamespace: resourceNamespace,
		},
		IngressShimOptions: controllerpkg.IngressShimOptions{
			DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
		},
		CertificateOptions: controllerpkg.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: time.Minute,
			CertificateRequestMaximumBackoffDuration: time.Hour,
		},
		SchedulerOptions: controllerpkg.SchedulerOptions{MaxConcurrentChallenges: 60},
	}
	factory, err := controllerpkg.NewContextFactory(ctx, options)
	if err != nil {
		return err
	}
	known := controllerpkg.Known()
	var workers sync.WaitGroup
	var shared *controllerpkg.Context
	for _, name := range wanted {
		construct, ok := known[name]
		if !ok {
			return fmt.Errorf("controller %q is not registered", name)
		}
		controller, err := construct(factory)
		if err != nil {
			return fmt.Errorf("controller %q: %w", name, err)
		}
		workers.Add(1)
		go func() {
			defer workers.Done()
			if err := controller.Run(5, ctx); err != nil {
				fmt.Fprintf(os.Stderr, "controller %q stopped: %v\n", name, err)
			}
		}()
	}
	// Every Context built from the factory shares its informer factories: start them once,
	// after every controller registered its informers.
	if shared, err = factory.Build("informers"); err != nil {
		return err
	}
	shared.KubeSharedInformerFactory.Start(ctx.Done())
	shared.SharedInformerFactory.Start(ctx.Done())
	fmt.Println("cert-manager-controller: running", len(wanted), "controllers")
	<-ctx.Done()
	workers.Wait()
	return nil
}
