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
 * the first wss_pages pages in address order, sweep after sweep, and counts
 * finished page writes in `cursor` (one 32-bit store, so a stopped guest is
 * never half-way through updating it). With n = cursor / wss + 1 and
 * p = cursor % wss, a stopped guest has pages [0, p) at sweep n, page p at
 * sweep n-1 or torn (a prefix already at sweep n), and (p, wss) at sweep
 * n-1. Any other content means a page was lost or corrupted. */
#ifndef VC_TESTS_GUEST_GUEST_ABI_H_
#define VC_TESTS_GUEST_GUEST_ABI_H_

#include <stdint.h>

#define VC_GUEST_STATUS_ADDR 0x180000u
#define VC_GUEST_DATA_START 0x200000u
#define VC_GUEST_PAGE_SIZE 4096u
#define VC_GUEST_MAGIC 0x56434753u /* "VCGS" */
#define VC_GUEST_INDEX_BITS 20u
#define VC_GUEST_SWEEP_CODES 4095u /* codes 1..4095 cycle; 0 is the fill */

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
  uint32_t cursor;       /* working-set page writes finished since boot */
};

/* The 12-bit code stored in pages for sweep n. */
static inline uint32_t vc_guest_sweep_code(uint32_t n) {
  return n == 0 ? 0 : ((n - 1) % VC_GUEST_SWEEP_CODES) + 1;
}

#endif /* VC_TESTS_GUEST_GUEST_ABI_H_ */
