"""The Python side of the boundary benchmarks (scripts/bench-embedding.sh): the same
measurements as crates/ems-ffi/examples/boundary_native.rs, through the bindings.

usage: python boundary_bench.py [ITERATIONS] [MINE_WORK]"""

import sys
import time

import ems

iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
work = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000_000
now = int(time.time())
hash_ = bytes([0xAA, 0xBB, 0xCC, 0xDD])
chain = ems.PushedChain()
chain.push(100, hash_, now - 5)
cheap = ems.Policy({"pow": {"sha256": {"min_work": 2000, "size_factor": 0, "ttl_factor": 0}}})
f = ems.Frame(b"\x07" * 64, b"\x42" * 1024, now + 600, hash_)
f.mine(cheap)
wire = f.encode()
validate = ems.Validator(cheap, chain).validate
t0 = time.perf_counter()
for _ in range(iterations):
    validate(wire, now)
per = (time.perf_counter() - t0) * 1e9 / iterations
print(f"python validate 1 KiB frame: {per:8.0f} ns/op ({iterations} iterations)")

fixed = ems.Policy({"pow": {"sha256": {"min_work": work, "size_factor": 0, "ttl_factor": 0}}})
m = ems.Frame(b"\x09" * 64, b"\x42" * 1024, 2_000_000_000, hash_)
t0 = time.perf_counter()
m.mine(fixed, now=1_900_000_000)
print(f"python mine {work} expected tries: {time.perf_counter() - t0:6.3f} s (nonce {m.pow_nonce})")
