# Every node file in manifests/nodes declares one host. Files live under the
# balcony_root fact, so several simulated hosts can share one machine.
node default {
  include base
}
