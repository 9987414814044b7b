#!/usr/bin/env bash
# The long form of the namespace test (crates/emsd/tests/netns.rs): real emsd processes, each in
# its own network namespace behind veth + a bridge with tc netem (20 ms, 1% loss; where the kernel
# lacks sch_netem the test says so and runs without delay and loss), 20 kill -9/restart cycles
# during traffic, then a 60 s partition into halves and the heal. Needs root and iproute2.
# Prints the frames acknowledged and lost and the time from the heal until every live relay
# holds every acknowledged frame.
set -euo pipefail
cd "$(dirname "$0")/.."
EMS_NETNS_NODES=${EMS_NETNS_NODES:-12} EMS_NETNS_KILLS=${EMS_NETNS_KILLS:-20} \
  EMS_NETNS_SPLIT_S=${EMS_NETNS_SPLIT_S:-60} \
  cargo test --release -p emsd --test netns -- --nocapture
