"""Values the DjangoStack API passes on to a child's API, each with the child API's verdict.

The unit tests check the models against the verdicts written here; the cluster tests
(tests/cluster/test_child_apis.py) check the verdicts themselves against the real API server,
by a server-side dry run of the child object the value ends up in. So a value the models
accept and a child's API refuses, the class of bug that left stacks half-created, shows up
on one side or the other.
"""

from __future__ import annotations

# CronJob spec.schedule
SCHEDULES_ACCEPTED = [
    "0 3 * * *", "*/15 2-4 * * 1-5", "@daily", "@hourly", "@weekly", "@monthly", "@yearly",
    "0 0 1 JAN *", "0 0 * * MON-FRI", "5/10 * * * *", "0 0 ? * SUN", "1,2,3 * * * *",
    "59 23 31 12 6", "0 0 1-31/2 * *", "* * * * *",
]  # fmt: skip
SCHEDULES_REFUSED = [
    "99 99 99 99 99", "99 99 * * *", "0 0 32 * *", "a b c d e", "61 * * * *", "0 3 * * 7",
    "0 3 * * 1-7", "0 0 L * *", "0 0 15W * *", "0 0 * * 1#2", "H * * * *", "0 0 0 * *",
    "0 0 * 13 *", "*/0 * * * *", "5-1 * * * *", "0 0 * * * *", "0 0 * *", "@reboot",
    "0 24 * * *",
]  # fmt: skip
# Schedules the CronJob API takes but the models refuse: an empty list item (a typo), `*-5`
# (robfig/cron ignores what follows a star), `+5` (Go's Atoi takes a sign).
SCHEDULES_MODELS_REFUSE = ["1,,2 * * * *", "*-5 * * * *", "+5 * * * *"]

# CronJob spec.timeZone
TIME_ZONES_ACCEPTED = ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5"]
TIME_ZONES_REFUSED = ["Mars/Olympus_Mons", "Europe/Atlantis", "Local", "Not_A_Zone", "utc/x"]

# resources and volume sizes: value -> what the API server writes back
QUANTITIES = {
    "0.1": "100m", "1024Mi": "1Gi", "1.5Gi": "1536Mi", "1e3": "1e3", "1.5e3": "1500",
    "1000": "1k", "1500": "1500", "0.5Ki": "512", "1.5": "1500m", "1000m": "1",
    "0.0000000001": "1m", "1048576Ki": "1Gi", ".5": "500m", "2048Ki": "2Mi", "100u": "1m",
    "1.0001": "1001m", "250n": "1m",
    "1M": "1M", "0.001": "1m", "1e-3": "1e-3", "10Gi": "10Gi", "12e6": "12e6",
    "3000m": "3", "2.5Mi": "2560Ki", "1E": "1E", "0": "0",
}  # fmt: skip
QUANTITIES_REFUSED = ["1.2.3", "-5Gi", "ten", "5GB", "1Ki5", "1e", "5 Gi", "0x10"]
# Quantities the API server takes but the models refuse: a sign (no quantity of the API may
# be negative, and `+` alone is 0), and a trailing dot, which the API server keeps as written
# (`1.` stays `1.`, not canonical: an operator comparing values would rewrite it forever).
QUANTITIES_MODELS_REFUSE = ["+", "+1", "1.", "5.Gi"]

# Ingress spec.rules[].host
HOSTS_ACCEPTED = [
    "shop.example.com", "localhost", "a" * 63 + ".example.com",
    ".".join(["a" * 63] * 3) + ".example.com", "123.example.com", "xn--bcher-kva.example",
]  # fmt: skip
HOSTS_REFUSED = [
    "10.0.0.1", "192.168.1.10", "Shop.example.com", "shop_1.example.com", "-shop.example.com",
    "shop..example.com",
]  # fmt: skip
# Hosts the Ingress API takes but the models refuse: no DNS name has a label over 63
# characters (no certificate could be issued for it), and one stack serves one exact host.
HOSTS_MODELS_REFUSE = ["a" * 64 + ".example.com", "*.example.com", "999.1.1.1"]

# env[].valueFrom.fieldRef.fieldPath of a container
FIELD_PATHS_ACCEPTED = [
    "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
    "spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP",
    "status.podIPs", "metadata.labels['app.kubernetes.io/name']", "metadata.annotations['x']",
]  # fmt: skip
FIELD_PATHS_REFUSED = [
    "metadata.bogus", "spec.containers", "status.phase", "metadata.labels", "metadata",
    "metadata.annotations", "spec.nodeName.x",
]  # fmt: skip

# Service and Deployment names made from the stack name: `<stack>-web`
STACK_NAMES_REFUSED = ["1shop", "9", "Shop", "shop.web"]

# annotation keys (pod annotations, Ingress annotations)
# (the API lowercases an annotation key's prefix before checking it: Example.com/x is fine)
ANNOTATION_KEYS_ACCEPTED = ["team", "example.com/owner", "a.b-c/d_e.f", "x" * 63, "Example.com/x"]
ANNOTATION_KEYS_REFUSED = ["bad key", "a/b/c", "-x", "x" * 64, "/x", "x/", "ex_ample.com/x"]

# Secret and ConfigMap keys in secretKeyRef / configMapKeyRef
CONFIG_KEYS_REFUSED = ["a/b", "has space", "ü"]

# Container images the Pod API takes (it checks only for whitespace) but no runtime can
# pull (the kubelet reports InvalidImageName): the models refuse them.
IMAGES_MODELS_REFUSE = [
    "!!!/$$$:1", "Shop:1.0", "registry..example.com/shop:1", "shop::1", "shop:1.0 extra",
]  # fmt: skip
IMAGES_REFUSED = [" shop:1.0", "shop:1.0 "]
