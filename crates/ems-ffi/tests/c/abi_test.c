/* Exercises the C ABI the way a C host would; run by tests/c_abi.rs, under valgrind when it is
 * installed. Exits 0 when every check passes; prints the failing check otherwise. */
#include "ems.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0;
#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
      failures++;                                                                  \
    }                                                                              \
  } while (0)

/* Cheap proof of work so that mining under valgrind takes milliseconds. */
static const char *CHEAP =
    "{\"pow\": {\"sha256\": {\"min_work\": 2000, \"size_factor\": 0, \"ttl_factor\": 0}}}";
static const uint8_t HASH[32] = {0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 3};

static int progress_calls = 0;
static int on_progress(void *ctx, uint64_t tries, uint64_t expected, double elapsed) {
  (void)tries;
  (void)elapsed;
  CHECK(expected > 0);
  progress_calls++;
  return *(int *)ctx; /* non-zero cancels */
}

static uint64_t now_s(void) { return (uint64_t)time(NULL); }

static EmsFrame *mined_frame(EmsPolicy *policy, uint8_t tag, const char *payload) {
  uint8_t id[64];
  memset(id, tag, 32);
  memset(id + 32, 0x5c, 32);
  EmsFrame *f = NULL;
  EmsError err = {0};
  int rc = ems_frame_new(id, (const uint8_t *)payload, strlen(payload), (uint32_t)(now_s() + 600),
                         HASH, &f, &err);
  CHECK(rc == EMS_CODE_OK && f != NULL);
  int keep_going = 0;
  EmsMineOptions opts = {0};
  opts.threads = 2;
  opts.progress = on_progress;
  opts.progress_ctx = &keep_going;
  rc = ems_frame_mine(f, policy, &opts, &err);
  CHECK(rc == EMS_CODE_OK);
  ems_error_clear(&err);
  return f;
}

static void frames_and_validation(void) {
  EmsError err = {0};
  EmsPolicy *policy = NULL;
  CHECK(ems_policy_new(CHEAP, &policy, &err) == EMS_CODE_OK);
  EmsChain *chain = NULL;
  CHECK(ems_chain_pushed_new("c test", 0, 0, &chain, &err) == EMS_CODE_OK);

  /* No block yet: the chain cannot answer. */
  EmsFrame *f = mined_frame(policy, 0xab, "hello from C");
  CHECK(progress_calls >= 1);
  CHECK(ems_validate_frame(policy, chain, f, 0, EMS_CONTEXT_LIVE, &err) == EMS_CODE_CHAIN_UNAVAILABLE);
  CHECK(err.code == EMS_CODE_CHAIN_UNAVAILABLE && err.message != NULL);
  CHECK(ems_chain_push(chain, 100, HASH, 32, now_s() - 5, &err) == EMS_CODE_OK);

  /* Encode, decode, fields and digest agree. */
  EmsBytes wire = {0};
  CHECK(ems_frame_encode(f, &wire, &err) == EMS_CODE_OK);
  CHECK(wire.len == 115 + strlen("hello from C"));
  EmsFrame *g = NULL;
  CHECK(ems_frame_decode(wire.ptr, wire.len, &g, &err) == EMS_CODE_OK);
  EmsFields fields;
  CHECK(ems_frame_fields(g, &fields, &err) == EMS_CODE_OK);
  CHECK(fields.payload_len == strlen("hello from C"));
  CHECK(memcmp(fields.payload, "hello from C", fields.payload_len) == 0);
  CHECK(fields.id[0] == 0xab && fields.id[63] == 0x5c);
  CHECK(fields.pow_algorithm == 1);
  CHECK(memcmp(fields.blockhash, HASH, 4) == 0);
  uint8_t digest[32], digest2[32];
  CHECK(ems_frame_digest(f, digest, &err) == EMS_CODE_OK);
  CHECK(memcmp(digest, fields.digest, 32) == 0);

  /* Valid now; the digest comes back. */
  CHECK(ems_validate(policy, chain, wire.ptr, wire.len, 0, EMS_CONTEXT_LIVE, digest2, &err) == EMS_CODE_OK);
  CHECK(memcmp(digest, digest2, 32) == 0);
  CHECK(ems_validate_frame(policy, chain, g, 0, EMS_CONTEXT_LIVE, NULL) == EMS_CODE_OK);

  /* Each kind of refusal has its code and a message. */
  uint8_t *bad = malloc(wire.len + 1);
  memcpy(bad, wire.ptr, wire.len);
  bad[wire.len - 1] ^= 0xff; /* proof hash changed */
  CHECK(ems_validate(policy, chain, bad, wire.len, 0, EMS_CONTEXT_LIVE, NULL, &err) == EMS_CODE_INSUFFICIENT_WORK);
  CHECK(strcmp(ems_code_name(err.code), "insufficient_work") == 0);
  CHECK(ems_validate(policy, chain, bad, 70, 0, EMS_CONTEXT_LIVE, NULL, &err) == EMS_CODE_MALFORMED);
  CHECK(strstr(err.message, "payload") != NULL);
  memcpy(bad, wire.ptr, wire.len);
  bad[wire.len] = 0;
  CHECK(ems_validate(policy, chain, bad, wire.len + 1, 0, EMS_CONTEXT_LIVE, NULL, &err) == EMS_CODE_MALFORMED);
  CHECK(ems_validate(policy, chain, wire.ptr, wire.len, now_s() + 100000, EMS_CONTEXT_LIVE, NULL, &err) == EMS_CODE_EXPIRED);
  CHECK(ems_validate(policy, chain, wire.ptr, wire.len, 0, 7, NULL, &err) == EMS_CODE_INVALID_ARGUMENT);
  free(bad);

  /* A reorg that replaces the bound block makes the frame stale. */
  uint8_t other[4] = {9, 9, 9, 9};
  CHECK(ems_chain_push(chain, 100, other, 4, now_s(), &err) == EMS_CODE_OK);
  CHECK(ems_validate(policy, chain, wire.ptr, wire.len, 0, EMS_CONTEXT_LIVE, NULL, &err) == EMS_CODE_STALE_BLOCKHASH);
  CHECK(ems_chain_push(chain, 101, other, 3, now_s(), &err) == EMS_CODE_INVALID_ARGUMENT);

  /* NULL arguments are refused, not dereferenced. */
  CHECK(ems_validate(NULL, chain, wire.ptr, wire.len, 0, EMS_CONTEXT_LIVE, NULL, &err) == EMS_CODE_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "policy") != NULL);
  CHECK(ems_frame_decode(NULL, 10, &g, &err) == EMS_CODE_INVALID_ARGUMENT);
  CHECK(ems_policy_new("{\"policy\": {\"block_depth\": 0}}", &policy, &err) == EMS_CODE_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "block_depth") != NULL);

  /* An oversized payload cannot be built. */
  uint8_t *big = calloc(8193, 1);
  uint8_t id[64] = {0};
  EmsFrame *h = NULL;
  CHECK(ems_frame_new(id, big, 8193, 1, HASH, &h, &err) == EMS_CODE_TOO_LARGE);
  CHECK(h == NULL);
  free(big);

  ems_error_clear(&err);
  CHECK(err.code == 0 && err.message == NULL);
  ems_bytes_free(wire);
  ems_frame_free(f);
  ems_frame_free(g);
  ems_chain_free(chain);
  ems_policy_free(policy);
}

static void mining_can_be_cancelled(void) {
  EmsError err = {0};
  EmsPolicy *hard = NULL;
  CHECK(ems_policy_new("{\"pow\": {\"sha256\": {\"min_work\": 1000000000000000, \"size_factor\": 0, \"ttl_factor\": 0}}}",
                       &hard, &err) == EMS_CODE_OK);
  uint8_t id[64] = {1};
  EmsFrame *f = NULL;
  CHECK(ems_frame_new(id, NULL, 0, (uint32_t)(now_s() + 60), HASH, &f, &err) == EMS_CODE_OK);
  int stop = 1;
  EmsMineOptions opts = {0};
  opts.threads = 1;
  opts.progress = on_progress;
  opts.progress_ctx = &stop;
  opts.progress_ms = 10;
  CHECK(ems_frame_mine(f, hard, &opts, &err) == EMS_CODE_CANCELLED);
  /* A token triggered before the run stops it too. */
  EmsCancel *cancel = ems_cancel_new();
  ems_cancel_trigger(cancel);
  EmsMineOptions opts2 = {0};
  opts2.cancel = cancel;
  opts2.threads = 1;
  CHECK(ems_frame_mine(f, hard, &opts2, &err) == EMS_CODE_CANCELLED);
  EmsFields fields;
  CHECK(ems_frame_fields(f, &fields, NULL) == EMS_CODE_OK);
  CHECK(fields.pow_algorithm == 0); /* unchanged */
  ems_cancel_free(cancel);
  ems_frame_free(f);
  ems_policy_free(hard);
  ems_error_clear(&err);
}

/* A host chain answered through callbacks. */
static int cb_head(void *ctx, uint64_t now, EmsBlock *out) {
  (void)now;
  out->height = 7;
  memcpy(out->prefix, HASH, 4);
  out->time = *(uint64_t *)ctx;
  return 0;
}
static int cb_find(void *ctx, const uint8_t *prefix, uint64_t now, EmsBlock *out) {
  if (memcmp(prefix, HASH, 4) != 0) return 1;
  return cb_head(ctx, now, out);
}

static void callback_chain(void) {
  EmsError err = {0};
  EmsPolicy *policy = NULL;
  CHECK(ems_policy_new(CHEAP, &policy, &err) == EMS_CODE_OK);
  uint64_t t = now_s();
  EmsChain *chain = NULL;
  CHECK(ems_chain_callbacks_new(NULL, cb_find, &t, &chain, &err) == EMS_CODE_INVALID_ARGUMENT);
  CHECK(ems_chain_callbacks_new(cb_head, cb_find, &t, &chain, &err) == EMS_CODE_OK);
  CHECK(ems_chain_push(chain, 1, HASH, 4, t, &err) == EMS_CODE_INVALID_ARGUMENT);
  EmsFrame *f = mined_frame(policy, 0x01, "via callbacks");
  CHECK(ems_validate_frame(policy, chain, f, 0, EMS_CONTEXT_LIVE, &err) == EMS_CODE_OK);
  ems_frame_free(f);
  ems_chain_free(chain);
  ems_policy_free(policy);
  ems_error_clear(&err);
}

/* An embedded relay: publish, receive through a subscription, read back, stop. */
static void relay(const char *dir) {
  EmsError err = {0};
  EmsChain *chain = NULL;
  CHECK(ems_chain_pushed_new(NULL, 0, 0, &chain, &err) == EMS_CODE_OK);
  CHECK(ems_chain_push(chain, 100, HASH, 32, now_s() - 5, &err) == EMS_CODE_OK);
  char config[1024];
  snprintf(config, sizeof config,
           "{\"data_dir\": \"%s\", \"listen\": [\"/ip4/127.0.0.1/tcp/0\"], \"network\": \"ctest\","
           " \"tuning\": {\"discovery\": false}, \"threads\": 1, \"policy\": %s}",
           dir, CHEAP);
  EmsRelay *r = NULL;
  CHECK(ems_relay_start("{\"data_dir\": 5}", chain, &r, &err) == EMS_CODE_INVALID_ARGUMENT);
  int rc = ems_relay_start(config, chain, &r, &err);
  CHECK(rc == EMS_CODE_OK);
  if (rc != EMS_CODE_OK) {
    fprintf(stderr, "relay start: %s\n", err.message);
    ems_chain_free(chain);
    ems_error_clear(&err);
    return;
  }
  ems_chain_free(chain); /* the relay keeps its own reference */

  uint8_t tag[32];
  memset(tag, 0x77, 32);
  EmsSubscription *sub = NULL;
  CHECK(ems_relay_subscribe(r, tag, 1, &sub, &err) == EMS_CODE_OK);
  EmsBytes none = {0};
  CHECK(ems_subscription_next(sub, 10, &none, &err) == EMS_CODE_OK);
  CHECK(none.ptr == NULL && none.len == 0); /* timed out */

  EmsPolicy *policy = NULL;
  CHECK(ems_policy_new(CHEAP, &policy, &err) == EMS_CODE_OK);
  EmsFrame *f = mined_frame(policy, 0x77, "through the relay");
  EmsBytes wire = {0};
  CHECK(ems_frame_encode(f, &wire, &err) == EMS_CODE_OK);
  uint8_t digest[32];
  int dup = -1;
  CHECK(ems_relay_publish(r, wire.ptr, wire.len, digest, &dup, &err) == EMS_CODE_OK);
  CHECK(dup == 0);
  CHECK(ems_relay_publish(r, wire.ptr, wire.len, NULL, &dup, &err) == EMS_CODE_OK);
  CHECK(dup == 1);
  CHECK(ems_relay_publish(r, wire.ptr, 50, NULL, NULL, &err) == EMS_CODE_MALFORMED);

  EmsBytes got = {0};
  CHECK(ems_subscription_next(sub, 10000, &got, &err) == EMS_CODE_OK);
  CHECK(got.len == wire.len && memcmp(got.ptr, wire.ptr, wire.len) == 0);
  ems_bytes_free(got);

  EmsBytes stored = {0};
  CHECK(ems_relay_get(r, digest, &stored, &err) == EMS_CODE_OK);
  CHECK(stored.len == wire.len);
  ems_bytes_free(stored);
  uint8_t unknown[32] = {0};
  CHECK(ems_relay_get(r, unknown, &stored, &err) == EMS_CODE_NOT_FOUND);

  char *status = NULL;
  CHECK(ems_relay_status(r, &status, &err) == EMS_CODE_OK);
  CHECK(status && strstr(status, "\"messages\":1") != NULL);
  ems_string_free(status);

  ems_relay_stop(r);
  CHECK(ems_relay_publish(r, wire.ptr, wire.len, NULL, NULL, &err) == EMS_CODE_SHUTTING_DOWN);
  CHECK(ems_subscription_next(sub, 1000, &got, &err) == EMS_CODE_SHUTTING_DOWN);
  ems_relay_stop(r); /* again: nothing happens */
  ems_subscription_free(sub);
  ems_relay_free(r);
  ems_bytes_free(wire);
  ems_frame_free(f);
  ems_policy_free(policy);
  ems_error_clear(&err);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: abi_test DATA_DIR\n");
    return 2;
  }
  frames_and_validation();
  mining_can_be_cancelled();
  callback_chain();
  relay(argv[1]);
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("all C ABI checks passed\n");
  return 0;
}
