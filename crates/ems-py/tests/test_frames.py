"""Frames, policy, validation against the shared vectors, and chain views."""

import time

import pytest

import ems
from conftest import CHEAP, HASH, mined


def test_frame_fields_round_trip_through_encode_and_decode():
    f = ems.Frame(b"\x01" * 32 + b"\x02" * 32, b"payload", 1_800_000_000, b"\xaa\xbb\xcc\xdd")
    g = ems.Frame.decode(f.encode())
    assert g == f
    assert g.id0 == b"\x01" * 32 and g.id1 == b"\x02" * 32
    assert g.payload == b"payload" and g.ttl == 1_800_000_000
    assert g.blockhash == b"\xaa\xbb\xcc\xdd" and g.pow_algorithm == 0
    assert len(g) == ems.MIN_FRAME + 7 == len(bytes(g))
    fields = g.fields()
    assert fields["digest"] == g.digest and len(g.digest) == 32
    assert fields["encoded_len"] == len(g)


def test_bad_fields_raise_typed_errors():
    with pytest.raises(ems.InvalidArgumentError, match="id must be 64 bytes"):
        ems.Frame(b"short", b"", 1, b"\x00" * 4)
    with pytest.raises(ems.TooLargeError) as e:
        ems.Frame(b"\x00" * 64, b"\x00" * (ems.MAX_PAYLOAD + 1), 1, b"\x00" * 4)
    assert e.value.code == "too_large" and isinstance(e.value, ems.EmsError)
    with pytest.raises(ems.MalformedError, match="ttl"):
        ems.Frame.decode(ems.Frame(b"\x00" * 64, b"", 1, b"\x00" * 4).encode()[:68])
    with pytest.raises(ems.TooLargeError):
        ems.Frame.decode(bytes(ems.MAX_FRAME + 1))


def test_every_vector_gets_its_expected_verdict(vectors):
    policy = ems.Policy(vectors["policy"])
    chain = ems.PushedChain(window=10**9)
    for b in vectors["chain"]["blocks"]:
        chain.push(b["height"], bytes.fromhex(b["prefix"]), b["time"])
    v = ems.Validator(policy, chain)
    now = vectors["now"]
    for case in vectors["vectors"]:
        data = bytes.fromhex(case["frame"])
        expect = case["expect"]
        if expect["accept"]:
            f = v.validate(data, now=now, context=case["context"])
            assert f.digest.hex() == expect["digest"], case["name"]
            assert f.pow_nonce == expect["nonce"], case["name"]
        else:
            with pytest.raises(ems.EmsError) as e:
                v.validate(data, now=now, context=case["context"])
            assert e.value.code == expect["reason"], case["name"]


def test_policy_reads_dicts_and_toml_and_names_bad_keys():
    p = ems.Policy({"policy": {"block_depth": 7}})
    assert p.to_dict()["policy"]["block_depth"] == 7
    assert ems.Policy.from_toml("policy.block_depth = 7").to_dict() == p.to_dict()
    assert ems.Policy().accepts("sha256") and not ems.Policy().accepts("argon2id")
    with pytest.raises(ems.InvalidArgumentError, match="policy.block_depth"):
        ems.Policy({"policy": {"block_depth": 0}})
    with pytest.raises(ems.InvalidArgumentError, match="max_tll"):
        ems.Policy({"policy": {"max_tll": 5}})
    assert ems.Policy(CHEAP).expected_tries(200, 0) == 2000


def test_validation_refusals_carry_the_api_codes(cheap_policy, chain):
    v = ems.Validator(cheap_policy, chain)
    f = mined(cheap_policy)
    assert v.validate(f.encode()).digest == f.digest
    v.validate_frame(f)
    tampered = bytearray(f.encode())
    tampered[-1] ^= 0xFF
    with pytest.raises(ems.InsufficientWorkError) as e:
        v.validate(bytes(tampered))
    assert e.value.code == "insufficient_work"
    with pytest.raises(ems.ExpiredError):
        v.validate(f.encode(), now=int(time.time()) + 10_000)
    with pytest.raises(ems.StaleBlockhashError):
        v.validate(mined(cheap_policy, blockhash=b"\x09\x09\x09\x09").encode())
    with pytest.raises(ems.InvalidArgumentError):
        v.validate(f.encode(), context="gossip")


def test_a_reorg_pushed_in_makes_frames_on_the_old_branch_stale(cheap_policy, chain):
    v = ems.Validator(cheap_policy, chain)
    f = mined(cheap_policy)
    v.validate(f.encode())
    assert chain.push(100, b"\x01\x02\x03\x04", int(time.time())) == (True, 0)
    with pytest.raises(ems.StaleBlockhashError):
        v.validate(f.encode())


def test_an_empty_or_stalled_pushed_chain_is_unavailable(cheap_policy):
    empty = ems.PushedChain()
    with pytest.raises(ems.ChainUnavailableError):
        ems.Validator(cheap_policy, empty).validate(mined(cheap_policy).encode())
    stalled = ems.PushedChain(stale_after=30)
    now = int(time.time())
    stalled.push(1, HASH, now, now=now - 31)
    with pytest.raises(ems.ChainUnavailableError, match="stale_after"):
        stalled.head()


class HostChain:
    """A host object answering head()/find(prefix) from its own blocks."""

    source = "my node"

    def __init__(self, blocks):
        self.blocks = blocks
        self.calls = 0

    def head(self):
        self.calls += 1
        return max(self.blocks, key=lambda b: b[0]) if self.blocks else None

    def find(self, prefix):
        self.calls += 1
        hits = [b for b in self.blocks if b[1][:4] == prefix]
        return max(hits, key=lambda b: b[0]) if hits else None


def test_a_host_object_serves_as_the_chain_view(cheap_policy):
    host = HostChain([(100, HASH, int(time.time()) - 5)])
    v = ems.Validator(cheap_policy, host)
    v.validate(mined(cheap_policy).encode())
    assert host.calls >= 2
    host.blocks = []
    with pytest.raises(ems.ChainUnavailableError):
        v.validate(mined(cheap_policy).encode())


def test_a_host_chain_that_raises_makes_the_chain_unavailable(cheap_policy):
    class Broken:
        def head(self):
            raise RuntimeError("node database closed")

        def find(self, prefix):
            raise RuntimeError("node database closed")

    with pytest.raises(ems.ChainUnavailableError, match="node database closed"):
        ems.Validator(cheap_policy, Broken()).validate(mined(cheap_policy).encode())
    with pytest.raises(ems.InvalidArgumentError):
        ems.Validator(cheap_policy, object())
