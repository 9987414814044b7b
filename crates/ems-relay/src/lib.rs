//! The EMS relay: libp2p gossipsub, validation pipeline, redb store and history sync (in progress).
