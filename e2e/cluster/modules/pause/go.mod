// Builds the pod sandbox's pause binary for the e2e cluster's real node. See ../../README.md.
module park.local/e2e/cluster/build/pause

go 1.26.0
