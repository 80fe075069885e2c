/* The virt-converge test guest: a tiny multiboot kernel that fills its RAM
 * with a checkable pattern and then rewrites a working set of pages at a
 * chosen rate, forever. Parameters come from the kernel command line
 * (QEMU -append), so tests choose them without recompiling:
 *
 *   wss=SIZE    hot working set rewritten sweep after sweep (default 32M;
 *               "all" = the whole data region)
 *   rate=SIZE   bytes per second to dirty (default 0 = as fast as possible)
 *   fill=SIZE   how much of RAM above 2 MiB to fill and check (default all)
 *
 * SIZE is a number with an optional K, M or G suffix (powers of 1024).
 *
 * It uses no interrupts at all (KVM-PVM cannot emulate a protected-mode
 * IRET): time comes from the TSC, calibrated once against PIT channel 2.
 * It writes whole pages with rep stosl, so compression gains nothing. */
#include "guest_abi.h"

#define MULTIBOOT_MAGIC 0x1BADB002u
#define MULTIBOOT_FLAG_MEMINFO 0x2u
#define MULTIBOOT_INFO_MEM 0x1u
#define MULTIBOOT_INFO_CMDLINE 0x4u

struct multiboot_header {
  uint32_t magic, flags, checksum;
};

__attribute__((section(".multiboot"), used, aligned(4)))
static const struct multiboot_header kHeader = {
    MULTIBOOT_MAGIC, MULTIBOOT_FLAG_MEMINFO,
    (uint32_t)(0u - MULTIBOOT_MAGIC - MULTIBOOT_FLAG_MEMINFO)};

struct multiboot_info {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
};

__attribute__((section(".status"), used))
static volatile struct vc_guest_status status;

/* Where the guest is in its working set: pinned in two callee-saved
 * registers for the whole kernel, so it migrates exactly with the vCPU
 * state. In memory it would be a page written at every step (see
 * guest_abi.h for why that matters). */
register uint32_t position_page asm("ebx");
register uint32_t position_code asm("esi");

static uint8_t stack[8192] __attribute__((aligned(16), used));

void guest_main(uint32_t magic, const struct multiboot_info* info);

__asm__(
    ".text\n"
    ".global vc_guest_start\n"
    "vc_guest_start:\n"
    "  cli\n"
    "  mov $stack + 8192, %esp\n"
    "  push %ebx\n"
    "  push %eax\n"
    "  call guest_main\n"
    "1: hlt\n"
    "  jmp 1b\n");

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static void put_char(char c) {
  while (!(inb(0x3fd) & 0x20)) {
  }
  outb(0x3f8, (uint8_t)c);
}
static void put_str(const char* s) {
  while (*s) put_char(*s++);
}
static void put_u32(uint32_t v) {
  char buf[11];
  int i = 10;
  buf[i] = 0;
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put_str(&buf[i]);
}

/* Parses "key=SIZE" from the command line into *bytes (in KiB to stay in
 * 32 bits). Returns 1 when found, and sets *all for the value "all". */
static int param_kib(const char* cmdline, const char* key, uint32_t* kib,
                     int* all) {
  const char* p = cmdline;
  while (p && *p) {
    while (*p == ' ') p++;
    const char* k = key;
    const char* q = p;
    while (*k && *q == *k) {
      k++;
      q++;
    }
    if (!*k && *q == '=') {
      q++;
      if (q[0] == 'a' && q[1] == 'l' && q[2] == 'l') {
        *all = 1;
        return 1;
      }
      uint32_t v = 0;
      while (*q >= '0' && *q <= '9') v = v * 10 + (uint32_t)(*q++ - '0');
      switch (*q) {
        case 'G': case 'g': v *= 1024u * 1024u; break;
        case 'M': case 'm': v *= 1024u; break;
        case 'K': case 'k': break;
        default: v /= 1024u; break;
      }
      *kib = v;
      *all = 0;
      return 1;
    }
    while (*p && *p != ' ') p++;
  }
  return 0;
}

static uint32_t calibrate_tsc_per_ms(void) {
  const uint16_t count = 59659; /* 50 ms of the 1.193182 MHz PIT */
  outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01)); /* gate on, no sound */
  outb(0x43, 0xB0); /* channel 2, lobyte/hibyte, mode 0 */
  outb(0x42, (uint8_t)(count & 0xff));
  outb(0x42, (uint8_t)(count >> 8));
  uint64_t t0 = rdtsc();
  while (!(inb(0x61) & 0x20)) {
  }
  uint32_t ticks = (uint32_t)(rdtsc() - t0);
  return ticks / 50 ? ticks / 50 : 1;
}

/* Drops the translation of \a addr, so TCG re-checks the page's dirty
 * state at the next write (see guest_abi.h). */
static inline void invlpg(uint32_t addr) {
  __asm__ volatile("invlpg (%0)" : : "r"(addr) : "memory");
}

static void fill_page(uint32_t index, uint32_t code) {
  uint32_t addr = VC_GUEST_DATA_START + index * VC_GUEST_PAGE_SIZE;
  uint32_t* page = (uint32_t*)addr;
  uint32_t word = (code << VC_GUEST_INDEX_BITS) | index;
  uint32_t n = VC_GUEST_PAGE_SIZE / 4;
  __asm__ volatile("rep stosl"
                   : "+D"(page), "+c"(n)
                   : "a"(word)
                   : "memory");
  invlpg(addr);
}

/* When the heartbeat is next due (TSC). */
static uint64_t next_beat;

/* Moves the heartbeat on by one each guest millisecond (so the status page
 * is never hot). Time the vCPU did not run is not made up: a late beat
 * starts the count afresh from now. No 64-bit division: the guest has no
 * libgcc. */
static inline __attribute__((always_inline)) void publish_heartbeat(uint64_t now) {
  if (now < next_beat) return;
  status.heartbeat = status.heartbeat + 1;
  invlpg(VC_GUEST_STATUS_ADDR);
  next_beat += status.tsc_per_ms;
  if (next_beat <= now) next_beat = now + status.tsc_per_ms;
}

static inline __attribute__((always_inline)) void write_next_page(void) {
  fill_page(position_page, position_code);
  if (++position_page == status.wss_pages) {
    position_page = 0;
    position_code = position_code == VC_GUEST_SWEEP_CODES ? 1 : position_code + 1;
  }
  if (position_page % VC_GUEST_PUBLISH_PAGES == 0) {
    status.cursor = status.cursor + VC_GUEST_PUBLISH_PAGES;
    invlpg(VC_GUEST_STATUS_ADDR);
  }
  if (position_page % 16u == 0) publish_heartbeat(rdtsc());
}

void guest_main(uint32_t magic, const struct multiboot_info* info) {
  status.magic = VC_GUEST_MAGIC;
  status.state = VC_GUEST_BOOTING;
  put_str("vc-guest: boot\n");
  if (magic != 0x2BADB002u || !(info->flags & MULTIBOOT_INFO_MEM)) {
    put_str("vc-guest: error: not started by a multiboot loader\n");
    return;
  }
  const char* cmdline =
      (info->flags & MULTIBOOT_INFO_CMDLINE) ? (const char*)info->cmdline : "";

  /* mem_upper is KiB above 1 MiB; the data region starts at 2 MiB. */
  uint32_t ram_kib = info->mem_upper + 1024u;
  uint32_t data_kib = ram_kib > 2048u ? ram_kib - 2048u : 0;
  uint32_t kib = 0;
  int all = 0;
  if (param_kib(cmdline, "fill", &kib, &all) && !all && kib < data_kib)
    data_kib = kib;
  uint32_t wss_kib = 32u * 1024u;
  if (param_kib(cmdline, "wss", &kib, &all)) wss_kib = all ? data_kib : kib;
  if (wss_kib > data_kib) wss_kib = data_kib;
  if (wss_kib < 4) wss_kib = 4;
  uint32_t rate_kib = 0;
  if (param_kib(cmdline, "rate", &kib, &all) && !all) rate_kib = kib;

  status.data_pages = data_kib / 4;
  status.wss_pages = wss_kib / 4;
  status.rate_kib_s = rate_kib;
  status.cursor = 0;
  status.tsc_per_ms = calibrate_tsc_per_ms();

  status.state = VC_GUEST_FILLING;
  for (uint32_t i = 0; i < status.data_pages; i++) fill_page(i, 0);
  status.state = VC_GUEST_RUNNING;
  put_str("vc-guest: ready data_pages=");
  put_u32(status.data_pages);
  put_str(" wss_pages=");
  put_u32(status.wss_pages);
  put_str(" rate_kib_s=");
  put_u32(rate_kib);
  put_str(" tsc_per_ms=");
  put_u32(status.tsc_per_ms);
  put_str("\n");

  position_page = 0;
  position_code = 1;
  status.heartbeat = 0;
  next_beat = rdtsc() + status.tsc_per_ms;
  if (rate_kib == 0) {
    for (;;) write_next_page();
  }
  /* Paced: every 10 ms slot earns rate/100 pages of credit, kept in
   * hundredths of a page. Time lost while the vCPU did not run (QEMU's
   * auto-converge throttle sleeps it in 10 ms slices; a pause stops it) is
   * lost for good: the guest never catches up, so throttling by p slows it
   * to (1 - p) of its rate, as it does a CPU-bound writer. */
  const uint32_t pages_per_s = rate_kib / 4 ? rate_kib / 4 : 1;
  const uint64_t slot = (uint64_t)status.tsc_per_ms * 10u;
  uint32_t credit = 0;
  uint64_t next = rdtsc() + slot;
  for (;;) {
    while (credit >= 100) {
      write_next_page();
      credit -= 100;
    }
    uint64_t now = rdtsc();
    if (now < next && next - now > 2 * slot) next = now + slot; /* TSC moved back */
    while ((now = rdtsc()) < next) {
      publish_heartbeat(now);
      __asm__ volatile("pause");
    }
    if (now - next > slot) next = now; /* we did not run: do not catch up */
    next += slot;
    credit += pages_per_s;
    if (credit > pages_per_s + 100) credit = pages_per_s + 100;
  }
}
