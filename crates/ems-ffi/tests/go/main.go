// A Go host embedding EMS through its C ABI (cgo), the path of QRL's Go node. Run by
// tests/go_embed.rs:
//
//	embed vectors FILE                         validate every test vector, expect its verdict
//	embed relay DIR EMSD_P2P EMSD_API HEIGHT PREFIX_HEX TIME
//	                                           run an embedded relay beside a separate emsd and
//	                                           exchange a message each way over libp2p
//	embed bench ITERATIONS MINE_WORK           the boundary benchmark (scripts/bench-embedding.sh)
package main

/*
#cgo LDFLAGS: -lems -lpthread -ldl -lm
#include <stdlib.h>
#include "ems.h"
*/
import "C"

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// emsError is an EmsError turned into a Go error: the API's code name and the message.
type emsError struct {
	Code    string
	Message string
}

func (e *emsError) Error() string { return e.Code + ": " + e.Message }

// check turns a return code and its EmsError into a Go error, freeing the message.
func check(rc C.int32_t, err *C.EmsError) error {
	if rc == 0 {
		return nil
	}
	e := &emsError{Code: C.GoString(C.ems_code_name(rc)), Message: C.GoString(err.message)}
	C.ems_error_clear(err)
	return e
}

func code(err error) string {
	var e *emsError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func ptr(b []byte) *C.uint8_t {
	if len(b) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0]))
}

func goBytes(b C.EmsBytes) []byte {
	defer C.ems_bytes_free(b)
	return C.GoBytes(unsafe.Pointer(b.ptr), C.int(b.len))
}

type policy struct{ p *C.EmsPolicy }

func newPolicy(js string) (policy, error) {
	var e C.EmsError
	s := C.CString(js)
	defer C.free(unsafe.Pointer(s))
	var p *C.EmsPolicy
	return policy{p}, check(C.ems_policy_new(s, &p, &e), &e)
}

type chain struct{ c *C.EmsChain }

func newPushedChain(window uint64) (chain, error) {
	var e C.EmsError
	var c *C.EmsChain
	return chain{c}, check(C.ems_chain_pushed_new(nil, C.uint64_t(window), 0, &c, &e), &e)
}

func (c chain) push(height uint64, hash []byte, t uint64) error {
	var e C.EmsError
	return check(C.ems_chain_push(c.c, C.uint64_t(height), ptr(hash), C.size_t(len(hash)), C.uint64_t(t), &e), &e)
}

func validate(p policy, c chain, frame []byte, now uint64, ctx int) ([]byte, error) {
	var e C.EmsError
	digest := make([]byte, 32)
	rc := C.ems_validate(p.p, c.c, ptr(frame), C.size_t(len(frame)), C.uint64_t(now), C.int32_t(ctx), ptr(digest), &e)
	return digest, check(rc, &e)
}

func runVectors(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var file struct {
		Now    uint64          `json:"now"`
		Policy json.RawMessage `json:"policy"`
		Chain  struct {
			Blocks []struct {
				Height uint64 `json:"height"`
				Prefix string `json:"prefix"`
				Time   uint64 `json:"time"`
			} `json:"blocks"`
		} `json:"chain"`
		Vectors []struct {
			Name    string `json:"name"`
			Context string `json:"context"`
			Frame   string `json:"frame"`
			Expect  struct {
				Accept bool   `json:"accept"`
				Digest string `json:"digest"`
				Reason string `json:"reason"`
			} `json:"expect"`
		} `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		return err
	}
	p, err := newPolicy(string(file.Policy))
	if err != nil {
		return err
	}
	defer C.ems_policy_free(p.p)
	c, err := newPushedChain(1 << 40)
	if err != nil {
		return err
	}
	defer C.ems_chain_free(c.c)
	for _, b := range file.Chain.Blocks {
		h, _ := hex.DecodeString(b.Prefix)
		if err := c.push(b.Height, h, b.Time); err != nil {
			return err
		}
	}
	for _, v := range file.Vectors {
		frame, _ := hex.DecodeString(v.Frame)
		ctx := int(C.EMS_CONTEXT_LIVE)
		if v.Context == "history" {
			ctx = int(C.EMS_CONTEXT_HISTORY)
		}
		digest, err := validate(p, c, frame, file.Now, ctx)
		switch {
		case v.Expect.Accept && err != nil:
			return fmt.Errorf("%s: refused (%v), expected accepted", v.Name, err)
		case v.Expect.Accept && hex.EncodeToString(digest) != v.Expect.Digest:
			return fmt.Errorf("%s: digest %x, expected %s", v.Name, digest, v.Expect.Digest)
		case !v.Expect.Accept && code(err) != v.Expect.Reason:
			return fmt.Errorf("%s: got %v, expected %s", v.Name, err, v.Expect.Reason)
		}
	}
	fmt.Printf("go: %d vectors give their expected verdicts\n", len(file.Vectors))
	return nil
}

const cheap = `{"pow": {"sha256": {"min_work": 2000, "size_factor": 0, "ttl_factor": 0}}}`

// mined builds and mines a frame with ID0 = tag repeated and a random ID1.
func mined(p policy, tag byte, payload string, blockhash []byte) ([]byte, error) {
	var e C.EmsError
	id := make([]byte, 64)
	for i := 0; i < 32; i++ {
		id[i] = tag
	}
	if _, err := rand.Read(id[32:]); err != nil {
		return nil, err
	}
	var f *C.EmsFrame
	pl := []byte(payload)
	ttl := C.uint32_t(time.Now().Unix() + 600)
	if err := check(C.ems_frame_new(ptr(id), ptr(pl), C.size_t(len(pl)), ttl, ptr(blockhash), &f, &e), &e); err != nil {
		return nil, err
	}
	defer C.ems_frame_free(f)
	if err := check(C.ems_frame_mine(f, p.p, nil, &e), &e); err != nil {
		return nil, err
	}
	var out C.EmsBytes
	if err := check(C.ems_frame_encode(f, &out, &e), &e); err != nil {
		return nil, err
	}
	return goBytes(out), nil
}

type relay struct{ r *C.EmsRelay }

func (r relay) status() (map[string]interface{}, error) {
	var e C.EmsError
	var s *C.char
	if err := check(C.ems_relay_status(r.r, &s, &e), &e); err != nil {
		return nil, err
	}
	defer C.ems_string_free(s)
	var out map[string]interface{}
	return out, json.Unmarshal([]byte(C.GoString(s)), &out)
}

func waitFor(what string, timeout time.Duration, f func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := f()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func runRelay(dir, emsdP2p, emsdAPI string, height uint64, prefix []byte, blockTime uint64) error {
	p, err := newPolicy(cheap)
	if err != nil {
		return err
	}
	defer C.ems_policy_free(p.p)
	c, err := newPushedChain(0)
	if err != nil {
		return err
	}
	defer C.ems_chain_free(c.c)
	if err := c.push(height, prefix, blockTime); err != nil {
		return err
	}
	config := fmt.Sprintf(`{"data_dir": %q, "network": "gotest", "listen": ["/ip4/127.0.0.1/tcp/0"],
		"bootstrap": [%q], "policy": %s, "tuning": {"discovery": false, "redial_ms": 500, "resync_ms": 1000}, "threads": 2}`,
		dir, emsdP2p, cheap)
	cfg := C.CString(config)
	defer C.free(unsafe.Pointer(cfg))
	var e C.EmsError
	var r relay
	if err := check(C.ems_relay_start(cfg, c.c, &r.r, &e), &e); err != nil {
		return err
	}
	defer C.ems_relay_free(r.r)
	if err := waitFor("the relay to connect to emsd", 60*time.Second, func() (bool, error) {
		s, err := r.status()
		return err == nil && s["peers"].(float64) >= 1, err
	}); err != nil {
		return err
	}

	// emsd → Go relay: posted to emsd's HTTP API, received through a subscription.
	tag := bytes.Repeat([]byte{0x44}, 32)
	var sub *C.EmsSubscription
	if err := check(C.ems_relay_subscribe(r.r, ptr(tag), 1, &sub, &e), &e); err != nil {
		return err
	}
	defer C.ems_subscription_free(sub)
	toGo, err := mined(p, 0x44, "from emsd to Go", prefix[:4])
	if err != nil {
		return err
	}
	resp, err := http.Post(emsdAPI+"/v1/messages", "application/octet-stream", bytes.NewReader(toGo))
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 202 {
		return fmt.Errorf("emsd refused the frame: %d %s", resp.StatusCode, body)
	}
	var got C.EmsBytes
	if err := check(C.ems_subscription_next(sub, 60000, &got, &e), &e); err != nil {
		return err
	}
	if received := goBytes(got); !bytes.Equal(received, toGo) {
		return fmt.Errorf("the subscription delivered %d bytes, not the frame posted to emsd", len(received))
	}

	// Go relay → emsd: published through the relay, read back from emsd's API.
	toEmsd, err := mined(p, 0x55, "from Go to emsd", prefix[:4])
	if err != nil {
		return err
	}
	digest := make([]byte, 32)
	if err := check(C.ems_relay_publish(r.r, ptr(toEmsd), C.size_t(len(toEmsd)), ptr(digest), nil, &e), &e); err != nil {
		return err
	}
	if err := waitFor("emsd to receive the Go relay's message", 60*time.Second, func() (bool, error) {
		resp, err := http.Get(emsdAPI + "/v1/messages/" + hex.EncodeToString(digest))
		if err != nil {
			return false, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode == 200 && bytes.Equal(body, toEmsd), nil
	}); err != nil {
		return err
	}
	C.ems_relay_stop(r.r)
	fmt.Println("go: embedded relay exchanged a message each way with emsd")
	return nil
}

// runBench measures what examples/boundary_native.rs measures, through cgo.
func runBench(iterations int, work string) error {
	p, err := newPolicy(cheap)
	if err != nil {
		return err
	}
	defer C.ems_policy_free(p.p)
	c, err := newPushedChain(0)
	if err != nil {
		return err
	}
	defer C.ems_chain_free(c.c)
	now := uint64(time.Now().Unix())
	hash := []byte{0xaa, 0xbb, 0xcc, 0xdd}
	if err := c.push(100, hash, now-5); err != nil {
		return err
	}
	frame, err := mined(p, 7, strings.Repeat("B", 1024), hash)
	if err != nil {
		return err
	}
	start := time.Now()
	for i := 0; i < iterations; i++ {
		if rc := C.ems_validate(p.p, c.c, ptr(frame), C.size_t(len(frame)), C.uint64_t(now), C.EMS_CONTEXT_LIVE, nil, nil); rc != 0 {
			return fmt.Errorf("validation failed: %d", rc)
		}
	}
	fmt.Printf("go     validate 1 KiB frame: %8.0f ns/op (%d iterations)\n", float64(time.Since(start).Nanoseconds())/float64(iterations), iterations)

	fixed, err := newPolicy(`{"pow": {"sha256": {"min_work": ` + work + `, "size_factor": 0, "ttl_factor": 0}}}`)
	if err != nil {
		return err
	}
	defer C.ems_policy_free(fixed.p)
	var e C.EmsError
	id := bytes.Repeat([]byte{9}, 64)
	payload := bytes.Repeat([]byte{0x42}, 1024)
	var f *C.EmsFrame
	if err := check(C.ems_frame_new(ptr(id), ptr(payload), 1024, 2000000000, ptr(hash), &f, &e), &e); err != nil {
		return err
	}
	defer C.ems_frame_free(f)
	opts := C.EmsMineOptions{now: 1900000000}
	start = time.Now()
	if err := check(C.ems_frame_mine(f, fixed.p, &opts, &e), &e); err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	var fields C.EmsFields
	C.ems_frame_fields(f, &fields, nil)
	fmt.Printf("go     mine %s expected tries: %6.3f s (nonce %d)\n", work, secs, uint64(fields.pow_nonce))
	return nil
}

func main() {
	var err error
	switch {
	case len(os.Args) == 4 && os.Args[1] == "bench":
		n, _ := strconv.Atoi(os.Args[2])
		err = runBench(n, os.Args[3])
	case len(os.Args) == 3 && os.Args[1] == "vectors":
		err = runVectors(os.Args[2])
	case len(os.Args) == 8 && os.Args[1] == "relay":
		height, _ := strconv.ParseUint(os.Args[5], 10, 64)
		prefix, _ := hex.DecodeString(os.Args[6])
		t, _ := strconv.ParseUint(os.Args[7], 10, 64)
		err = runRelay(os.Args[2], os.Args[3], strings.TrimRight(os.Args[4], "/"), height, prefix, t)
	default:
		err = errors.New("usage: embed vectors FILE | embed relay DIR EMSD_P2P EMSD_API HEIGHT PREFIX_HEX TIME")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "go:", err)
		os.Exit(1)
	}
}
