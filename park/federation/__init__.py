"""Federation: community nodes join a py-libp2p mesh with signed invites and run leased work.

Pure protocol logic (identity, tokens, wire, admission, leases, node policy) lives in plain modules;
py-libp2p (trio-native) is reached only through `park.federation.mesh`.
"""
