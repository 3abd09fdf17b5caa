"""A real Kubernetes control plane made of local processes, for development, tests and the demo.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as plain processes
on 127.0.0.1; kwok plays the kubelet of a fake node, so pods become Running/Ready and Job
pods Succeeded without any container engine. `tools` installs the binaries, `pki` makes the
certificates, `cluster` starts and stops the processes.
"""
