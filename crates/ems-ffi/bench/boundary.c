/* The C side of the boundary benchmarks (scripts/bench-embedding.sh): the same measurements as
 * examples/boundary_native.rs, through the C ABI.  usage: boundary ITERATIONS MINE_WORK */
#define _POSIX_C_SOURCE 199309L
#include "ems.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 200000;
  const char *work = argc > 2 ? argv[2] : "20000000";
  EmsError err = {0};
  uint64_t now = (uint64_t)time(NULL);
  uint8_t hash[4] = {0xaa, 0xbb, 0xcc, 0xdd}, id[64], payload[1024];
  memset(id, 7, 64);
  memset(payload, 0x42, 1024);
  EmsPolicy *cheap;
  EmsChain *chain;
  EmsFrame *f;
  ems_policy_new("{\"pow\": {\"sha256\": {\"min_work\": 2000, \"size_factor\": 0, \"ttl_factor\": 0}}}", &cheap, &err);
  ems_chain_pushed_new(NULL, 0, 0, &chain, &err);
  ems_chain_push(chain, 100, hash, 4, now - 5, &err);
  ems_frame_new(id, payload, 1024, (uint32_t)(now + 600), hash, &f, &err);
  if (ems_frame_mine(f, cheap, NULL, &err) != EMS_CODE_OK) return 1;
  EmsBytes wire;
  ems_frame_encode(f, &wire, &err);
  double t0 = now_s();
  for (long i = 0; i < iterations; i++) {
    if (ems_validate(cheap, chain, wire.ptr, wire.len, now, EMS_CONTEXT_LIVE, NULL, NULL) != EMS_CODE_OK) return 1;
  }
  printf("c      validate 1 KiB frame: %8.0f ns/op (%ld iterations)\n", (now_s() - t0) * 1e9 / (double)iterations, iterations);

  char json[256];
  snprintf(json, sizeof json, "{\"pow\": {\"sha256\": {\"min_work\": %s, \"size_factor\": 0, \"ttl_factor\": 0}}}", work);
  EmsPolicy *fixed;
  ems_policy_new(json, &fixed, &err);
  EmsFrame *m;
  memset(id, 9, 64);
  ems_frame_new(id, payload, 1024, 2000000000u, hash, &m, &err);
  EmsMineOptions opts = {0};
  opts.now = 1900000000u;
  t0 = now_s();
  if (ems_frame_mine(m, fixed, &opts, &err) != EMS_CODE_OK) return 1;
  double secs = now_s() - t0;
  EmsFields fields;
  ems_frame_fields(m, &fields, NULL);
  printf("c      mine %s expected tries: %6.3f s (nonce %llu)\n", work, secs, (unsigned long long)fields.pow_nonce);
  ems_bytes_free(wire);
  ems_frame_free(f);
  ems_frame_free(m);
  ems_chain_free(chain);
  ems_policy_free(cheap);
  ems_policy_free(fixed);
  return 0;
}
