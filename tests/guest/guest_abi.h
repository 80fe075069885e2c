/* The contract between the test guest (32-bit freestanding C) and the host
 * side of the tests (C++). Both include this file, so it is plain C.
 *
 * Memory layout of the guest:
 *   0x100000  the kernel (multiboot ELF, loaded by QEMU's -kernel)
 *   0x180000  struct vc_guest_status, updated live by the guest
 *   0x200000  the data region, up to the top of RAM
 *
 * Every 4 KiB page of the data region holds one 32-bit word repeated
 * 1024 times: (vc_guest_sweep_code(n) << 20) | page_index, where n is the
 * sweep that last wrote the page (0 = the initial fill). The guest rewrites
 * the first wss_pages pages in address order, sweep after sweep. So a
 * stopped guest has pages [0, p) at some sweep n and [p, wss) at sweep n-1,
 * where the page at p may be torn (a prefix already at sweep n); the rest
 * of the data region holds the fill. The check finds p from the data
 * itself (QEMU's migration test does the same): any second edge means a
 * page was lost or is stale.
 *
 * The guest keeps its position in a register and publishes `cursor` only
 * every VC_GUEST_PUBLISH_PAGES pages, so it is for watching the rate, not
 * for the check: under TCG, a page rewritten tens of thousands of times a
 * second can miss the dirty log (seen on QEMU 7.2; KVM is fine), so no page
 * of the guest is that hot, and each write is followed by invlpg. */
#ifndef VC_TESTS_GUEST_GUEST_ABI_H_
#define VC_TESTS_GUEST_GUEST_ABI_H_

#include <stdint.h>

#define VC_GUEST_STATUS_ADDR 0x180000u
#define VC_GUEST_DATA_START 0x200000u
#define VC_GUEST_PAGE_SIZE 4096u
#define VC_GUEST_MAGIC 0x56434753u /* "VCGS" */
#define VC_GUEST_INDEX_BITS 20u
#define VC_GUEST_SWEEP_CODES 4095u /* codes 1..4095 cycle; 0 is the fill */
#define VC_GUEST_PUBLISH_PAGES 256u

enum vc_guest_state {
  VC_GUEST_BOOTING = 0,
  VC_GUEST_FILLING = 1,
  VC_GUEST_RUNNING = 2, /* the fill is done; the working set is dirtied */
};

struct vc_guest_status {
  uint32_t magic;
  uint32_t state;        /* enum vc_guest_state */
  uint32_t data_pages;   /* pages in the data region (all filled) */
  uint32_t wss_pages;    /* the hot working set: the first wss_pages pages */
  uint32_t rate_kib_s;   /* target dirty rate; 0 = as fast as it can */
  uint32_t tsc_per_ms;   /* calibrated against the PIT, for pacing */
  uint32_t cursor;       /* page writes since boot, published now and then */
  uint32_t heartbeat;    /* one more each guest millisecond it runs: the host
                            sees the guest stop and start again from its
                            changes (a pause, a throttle's sleep, a
                            migration's downtime) */
};

/* The 12-bit code stored in pages for sweep n. */
static inline uint32_t vc_guest_sweep_code(uint32_t n) {
  return n == 0 ? 0 : ((n - 1) % VC_GUEST_SWEEP_CODES) + 1;
}

#endif /* VC_TESTS_GUEST_GUEST_ABI_H_ */
