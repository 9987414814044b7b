use super::*;

#[test]
fn every_message_round_trips() {
    let requests = [
        Request::Reconcile {
            round: 7,
            step: 3,
            message: vec![0x61, 0, 0],
        },
        Request::Reconcile {
            round: u32::MAX,
            step: 63,
            message: vec![0x61; MAX_RECONCILE],
        },
        Request::Fetch {
            id: 9,
            digests: vec![[9; 32]; MAX_FETCH],
        },
        Request::Fetch {
            id: 0,
            digests: vec![],
        },
        Request::Offer {
            round: 3,
            part: MAX_OFFER_PARTS - 1,
            last: true,
            complete: true,
            digests: vec![[5; 32]; MAX_OFFER],
        },
        Request::Offer {
            round: 3,
            part: 0,
            last: true,
            complete: false,
            digests: vec![],
        },
        Request::Offer {
            round: 3,
            part: 1,
            last: false,
            complete: false,
            digests: vec![[6; 32]],
        },
    ];
    for r in requests {
        assert_eq!(Request::decode(&r.encode()), Ok(r));
    }
    let responses = [
        Response::Reconcile {
            round: 1,
            step: 0,
            message: vec![0x61],
        },
        Response::Reconcile {
            round: 2,
            step: 127,
            message: vec![0x61; MAX_RECONCILE_ANSWER],
        },
        Response::Frames {
            id: 4,
            frames: vec![vec![1; MAX_FRAME], vec![2; MIN_FRAME]],
        },
        Response::Busy(Tag::Reconcile { round: 5, step: 2 }),
        Response::Busy(Tag::Fetch { id: 6 }),
        Response::Taken { round: 8, part: 2 },
        Response::Busy(Tag::Offer { round: 8, part: 3 }),
    ];
    for r in responses {
        assert_eq!(Response::decode(&r.encode()), Ok(r));
    }
}

#[test]
fn the_bytes_are_as_documented() {
    let bytes = Request::Reconcile {
        round: 0x0102_0304,
        step: 5,
        message: vec![0x61, 0xaa],
    }
    .encode();
    assert_eq!(bytes, [0x01, 1, 2, 3, 4, 5, 0x61, 0xaa]);
    let bytes = Request::Fetch {
        id: 2,
        digests: vec![[0xab; 32]],
    }
    .encode();
    let mut expected = vec![0x02, 0, 0, 0, 2, 1];
    expected.extend_from_slice(&[0xab; 32]);
    assert_eq!(bytes, expected);
    let bytes = Response::Busy(Tag::Fetch { id: 2 }).encode();
    assert_eq!(bytes, [0x03, 0x02, 0, 0, 0, 2]);
    let bytes = Request::Offer {
        round: 0x0102_0304,
        part: 1,
        last: true,
        complete: true,
        digests: vec![[0xcd; 32]],
    }
    .encode();
    let mut expected = vec![0x04, 1, 2, 3, 4, 1, 0x03, 0, 1];
    expected.extend_from_slice(&[0xcd; 32]);
    assert_eq!(bytes, expected);
    let bytes = Response::Taken { round: 7, part: 2 }.encode();
    assert_eq!(bytes, [0x04, 0, 0, 0, 7, 2]);
    // The largest offer fits a request.
    let largest = Request::Offer {
        round: 0,
        part: 0,
        last: false,
        complete: false,
        digests: vec![[0; 32]; MAX_OFFER],
    };
    assert!(largest.encode().len() <= MAX_REQUEST_LEN);
    // The largest reconcile answer fits a response.
    let largest = Response::Reconcile {
        round: 0,
        step: 0,
        message: vec![0x61; MAX_RECONCILE_ANSWER],
    };
    assert_eq!(largest.encode().len(), MAX_RESPONSE_LEN);
}

#[test]
fn an_answer_carries_the_tag_of_its_request() {
    let request = Request::Fetch {
        id: 11,
        digests: vec![[1; 32]],
    };
    let frames = Response::Frames {
        id: 11,
        frames: vec![],
    };
    assert_eq!(frames.tag(), request.tag());
    assert_ne!(Response::Busy(Tag::Fetch { id: 12 }).tag(), request.tag());
    let reconcile = Response::Reconcile {
        round: 11,
        step: 0,
        message: vec![0x61],
    };
    assert_ne!(reconcile.tag(), request.tag(), "same number, other kind");
}

#[test]
fn hostile_bodies_are_refused_with_the_reason() {
    assert_eq!(Request::decode(&[]), Err(SyncError::Truncated("kind")));
    assert_eq!(Request::decode(&[9]), Err(SyncError::UnknownKind(9)));
    // Busy is an answer, never a request.
    assert_eq!(
        Request::decode(&[KIND_BUSY, KIND_FETCH, 0, 0, 0, 1]),
        Err(SyncError::UnknownKind(KIND_BUSY))
    );
    assert_eq!(
        Response::decode(&[KIND_BUSY, KIND_BUSY, 0, 0, 0, 1]),
        Err(SyncError::UnknownKind(KIND_BUSY))
    );
    assert_eq!(
        Request::decode(&[KIND_FETCH, 0, 0]),
        Err(SyncError::Truncated("id"))
    );
    // A fetch announcing more digests than allowed is refused before anything is read.
    assert_eq!(
        Request::decode(&[KIND_FETCH, 0, 0, 0, 0, 0xff]),
        Err(SyncError::TooMany {
            what: "fetch digests",
            n: 0xff,
            max: MAX_FETCH
        })
    );
    // A count within limits whose bytes are missing.
    assert_eq!(
        Request::decode(&[KIND_FETCH, 0, 0, 0, 0, 2, 1, 2, 3]),
        Err(SyncError::Truncated("digests"))
    );
    // A reconcile message without a negentropy message, and ones over the frame limits: an
    // initiator's request may not be as long as a responder's answer.
    assert_eq!(
        Request::decode(&[KIND_RECONCILE, 0, 0, 0, 0, 0]),
        Err(SyncError::EmptyReconcile)
    );
    let mut bytes = vec![KIND_RECONCILE, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(&vec![0x61; MAX_RECONCILE + 1]);
    assert_eq!(
        Request::decode(&bytes),
        Err(SyncError::TooMany {
            what: "reconcile message bytes",
            n: MAX_RECONCILE + 1,
            max: MAX_RECONCILE
        })
    );
    assert!(matches!(
        Response::decode(&bytes),
        Ok(Response::Reconcile { .. })
    ));
    let mut bytes = vec![KIND_RECONCILE, 0, 0, 0, 0, 0];
    bytes.extend_from_slice(&vec![0x61; MAX_RECONCILE_ANSWER + 1]);
    assert_eq!(
        Response::decode(&bytes),
        Err(SyncError::TooMany {
            what: "reconcile message bytes",
            n: MAX_RECONCILE_ANSWER + 1,
            max: MAX_RECONCILE_ANSWER
        })
    );
    // A frame longer than any valid frame.
    let mut bytes = vec![KIND_FETCH, 0, 0, 0, 0, 1];
    bytes.extend_from_slice(&((MAX_FRAME + 1) as u16).to_be_bytes());
    assert_eq!(
        Response::decode(&bytes),
        Err(SyncError::TooMany {
            what: "frame bytes",
            n: MAX_FRAME + 1,
            max: MAX_FRAME
        })
    );
    // Frames shorter than any valid frame: 64 empty frames in 130 bytes would cost 64 list
    // entries (found by fuzzing v1, fuzz/fuzz_targets/sync_codec.rs).
    let mut bytes = vec![KIND_FETCH, 0, 0, 0, 0, 64];
    bytes.extend_from_slice(&[0; 128]);
    assert_eq!(Response::decode(&bytes), Err(SyncError::FrameTooShort(0)));
    let mut bytes = Request::Fetch {
        id: 1,
        digests: vec![],
    }
    .encode();
    bytes.push(0);
    assert_eq!(Request::decode(&bytes), Err(SyncError::TrailingBytes(1)));
    let mut bytes = Response::Busy(Tag::Fetch { id: 1 }).encode();
    bytes.push(0);
    assert_eq!(Response::decode(&bytes), Err(SyncError::TrailingBytes(1)));
    // An offer of more digests than allowed, refused before they are read; unknown flags,
    // and `complete` without `last`.
    let count = ((MAX_OFFER + 1) as u16).to_be_bytes();
    assert_eq!(
        Request::decode(&[KIND_OFFER, 0, 0, 0, 0, 0, LAST, count[0], count[1]]),
        Err(SyncError::TooMany {
            what: "offer digests",
            n: MAX_OFFER + 1,
            max: MAX_OFFER
        })
    );
    assert_eq!(
        Request::decode(&[KIND_OFFER, 0, 0, 0, 0, 0, 4, 0, 0]),
        Err(SyncError::OfferFlags(4))
    );
    assert_eq!(
        Request::decode(&[KIND_OFFER, 0, 0, 0, 0, 0, COMPLETE, 0, 0]),
        Err(SyncError::OfferFlags(COMPLETE))
    );
    assert_eq!(
        Request::decode(&[KIND_OFFER, 0, 0, 0, 0, 0, 0, 0, 1, 9]),
        Err(SyncError::Truncated("digests"))
    );
}

#[test]
fn a_fetch_answer_over_its_byte_limit_is_refused_while_reading() {
    // 64 largest frames are 530 KiB: over the 512 KiB an answer may carry.
    let frames = vec![vec![7u8; MAX_FRAME]; MAX_FETCH];
    let mut bytes = vec![KIND_FETCH, 0, 0, 0, 1, MAX_FETCH as u8];
    for f in &frames {
        bytes.extend_from_slice(&(f.len() as u16).to_be_bytes());
        bytes.extend_from_slice(f);
    }
    assert!(matches!(
        Response::decode(&bytes),
        Err(SyncError::TooMany {
            what: "fetch answer bytes",
            ..
        })
    ));
    // Encoding stops before the limit, so an honest answer always decodes.
    let encoded = Response::Frames { id: 1, frames }.encode();
    let Ok(Response::Frames { frames, .. }) = Response::decode(&encoded) else {
        panic!("an encoded answer decodes");
    };
    assert_eq!(frames.len(), MAX_FETCH_BYTES / MAX_FRAME);
}

#[test]
fn an_oversized_length_prefix_is_refused_unread() {
    let mut stream = futures::io::Cursor::new(((MAX_REQUEST_LEN + 1) as u32).to_be_bytes());
    let err = futures::executor::block_on(read_body(&mut stream, MAX_REQUEST_LEN)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains("exceeds"), "{err}");
}
