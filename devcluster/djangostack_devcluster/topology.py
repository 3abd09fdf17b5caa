"""The fixed names and addresses of the local cluster, defined once.

There is one real node per machine: its bridge, pod range and iptables chains are
machine-wide names, and two kube-proxies on one host would fight over the same chains. A
second cluster that wants a real node while one runs is refused (node.py holds the lock).
"""

from __future__ import annotations

from pathlib import Path

# ---- nodes ------------------------------------------------------------------------------------
FAKE_NODE = "kwok-node-0"
REAL_NODE = "real-node"
# Label `type` tells the kinds apart; a namespace picks one with PodNodeSelector's annotation.
NODE_TYPE_LABEL = "type"
FAKE_NODE_TYPE = "kwok"
REAL_NODE_TYPE = "real"
NODE_SELECTOR_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector"
# kwok manages only the nodes with this annotation, so it never touches the real node.
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_NODE_ANNOTATION_VALUE = "fake"

# ---- addresses --------------------------------------------------------------------------------
# Room for the Services of a thousand stacks (five each); a /24 ran out at about 50.
SERVICE_CIDR = "10.0.0.0/16"
# The first Service address, which the apiserver gives the `kubernetes` Service.
KUBERNETES_SERVICE_IP = "10.0.0.1"
# kwok's fake pod IPs, apart from the Service range and from the real pods.
FAKE_POD_CIDR = "10.250.0.0/16"
BRIDGE = "djangostack0"
POD_CIDR = "10.244.0.0/24"
# The bridge's own address: the node IP, where pods find the apiserver and the DNS server.
NODE_IP = "10.244.0.1"
CLUSTER_DOMAIN = "cluster.local"

# ---- the Ingress controller on loopback (documented in the README) ---------------------------
INGRESS_HTTP_PORT = 8080
INGRESS_HTTPS_PORT = 8443
INGRESS_CLASS = "traefik"

# Where kube-controller-manager's hostPath provisioner (the default StorageClass) makes each
# volume's directory; fixed in Kubernetes' code.
HOSTPATH_PROVISIONER_ROOT = Path("/tmp/hostpath_pv")
