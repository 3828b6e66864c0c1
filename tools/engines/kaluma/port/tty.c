/* The Linux twin's tty: the process's stdin/stdout as the board's USB CDC, with targets/rp2/src/tty.c's FIFO and 0x03 behaviour. */
/*
 * Replaces Kaluma's targets/linux/src/tty.c (a stub that spins on a 1-byte read). What a Pico does, and how it is
 * copied here (Kaluma 1.2 targets/rp2/src/tty.c over pico-sdk pico_stdio_usb and TinyUSB's CDC class):
 *   * Received USB packets (at most 64 bytes at full speed) land in TinyUSB's CDC RX FIFO, 256 bytes
 *     (pico-sdk src/rp2_common/pico_stdio_usb/include/tusb_config.h CFG_TUD_CDC_RX_BUFSIZE), from the USB
 *     interrupt, whatever the JavaScript is doing. When the FIFO is full the device NAKs and the host waits.
 *     Here a reader thread plays the interrupt: it reads stdin in chunks of at most 64 bytes into a 256-byte FIFO
 *     and blocks (the pipe fills, the host's writes wait) while the FIFO is full.
 *   * km_tty_available() moves everything the FIFO holds into Kaluma's 2048-byte ring buffer
 *     (getchar_timeout_us(0) in a loop) and clears the VM stop request for every byte it moves — rp2's quirk,
 *     kept. It never blocks: process.stdin.read() returns null when nothing is there.
 *   * tud_cdc_set_wanted_char(0x03): when a packet holding 0x03 arrives and no YMODEM transfer runs, the
 *     interrupt asks the VM to stop (km_runtime_set_vm_stop(1): JerryScript's vm-exec-stop callback throws
 *     "Aborted" into the running program) and flushes the FIFO (tud_cdc_read_flush), so the Ctrl-C and
 *     everything received with it is gone. The REPL then owns the link.
 *     The image twin is built with KM_TTY_ETX_IS_DATA: 0x03 is then an ordinary byte of the link (a board image
 *     would leave out tud_cdc_set_wanted_char; see tools/engines/kaluma/image/).
 *   * Output: putchar() into pico_stdio_usb, which sends it out in USB packets. Here stdout is line-buffered
 *     and also flushed whenever the program or the REPL polls the link, so a frame ('\n'-terminated armor)
 *     leaves at once.
 * End of stdin (the host closed the link) is treated as a power off once everything received was taken:
 * statistics, exit 0 (port/stats.c).
 */
#include "tty.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "repl.h"
#include "ringbuffer.h"
#include "runtime.h"
#include "system.h"
#include "twin.h"

#define TTY_RX_RINGBUFFER_SIZE 2048
#define CDC_RX_FIFO_SIZE 256 /* CFG_TUD_CDC_RX_BUFSIZE */
#define USB_PACKET_SIZE 64   /* full-speed bulk endpoint */
#define ETX 0x03             /* Ctrl + C */
/* after stdin ends, how long the program may take to read what is left before the twin powers off anyway */
#define EOF_GRACE_MS 3000

static unsigned char __tty_rx_buffer[TTY_RX_RINGBUFFER_SIZE];
static ringbuffer_t __tty_rx_ringbuffer;

static pthread_mutex_t fifo_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fifo_space = PTHREAD_COND_INITIALIZER;
static uint8_t fifo[CDC_RX_FIFO_SIZE];
static size_t fifo_head = 0, fifo_len = 0;
static bool stdin_ended = false;

static void fifo_flush_locked(void) {
  fifo_head = 0;
  fifo_len = 0;
  pthread_cond_broadcast(&fifo_space);
}

static void *reader_main(void *arg) {
  (void)arg;
  uint8_t packet[USB_PACKET_SIZE];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, packet, sizeof(packet));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pthread_mutex_lock(&fifo_lock);
    bool etx = false;
    for (ssize_t i = 0; i < n; i++) {
      while (fifo_len == CDC_RX_FIFO_SIZE) pthread_cond_wait(&fifo_space, &fifo_lock);
      fifo[(fifo_head + fifo_len) % CDC_RX_FIFO_SIZE] = packet[i];
      fifo_len++;
#ifndef KM_TTY_ETX_IS_DATA
      if (packet[i] == ETX) etx = true;
#endif
    }
    if (etx) {
      /* tud_cdc_rx_wanted_cb in targets/rp2/src/tty.c */
      km_repl_state_t *state = km_get_repl_state();
      if (state->ymodem_state == 0) {
        km_runtime_set_vm_stop(1);
        fifo_flush_locked();
      }
    }
    pthread_mutex_unlock(&fifo_lock);
  }
  pthread_mutex_lock(&fifo_lock);
  stdin_ended = true;
  pthread_mutex_unlock(&fifo_lock);
  /* a program that stopped reading must not keep a closed link's twin alive */
  struct timespec ts = {EOF_GRACE_MS / 1000, (EOF_GRACE_MS % 1000) * 1000000L};
  nanosleep(&ts, NULL);
  twin_exit(0, NULL);
  return NULL;
}

void km_tty_init() {
  ringbuffer_init(&__tty_rx_ringbuffer, __tty_rx_buffer, sizeof(__tty_rx_buffer));
  setvbuf(stdout, NULL, _IOLBF, 4096);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&t, &attr, reader_main, NULL) != 0) {
    fprintf(stderr, "tty: cannot start the stdin reader\n");
    exit(1);
  }
  pthread_attr_destroy(&attr);
}

uint32_t km_tty_available() {
  fflush(stdout);
  pthread_mutex_lock(&fifo_lock);
  bool moved = fifo_len > 0;
  while (fifo_len > 0) {
    uint8_t ch = fifo[fifo_head];
    fifo_head = (fifo_head + 1) % CDC_RX_FIFO_SIZE;
    fifo_len--;
    ringbuffer_write(&__tty_rx_ringbuffer, &ch, 1);
    km_runtime_set_vm_stop(0);
  }
  if (moved) pthread_cond_broadcast(&fifo_space);
  bool ended = stdin_ended;
  pthread_mutex_unlock(&fifo_lock);
  uint32_t len = ringbuffer_length(&__tty_rx_ringbuffer);
  if (ended && len == 0) twin_exit(0, NULL);
  if (len == 0) {
    /* Idle: a board spins here; the twin yields 0.2 ms so that several twins can share a small machine. */
    struct timespec ts = {0, 200000L};
    nanosleep(&ts, NULL);
  }
  return len;
}

uint32_t km_tty_read(uint8_t *buf, size_t len) {
  if (km_tty_available() >= len) {
    ringbuffer_read(&__tty_rx_ringbuffer, buf, len);
    return len;
  } else {
    return 0;
  }
}

uint32_t km_tty_read_sync(uint8_t *buf, size_t len, uint32_t timeout) {
  uint32_t sz;
  uint64_t to = km_gettime() + timeout;
  do {
    sz = km_tty_available();
    if (sz < len) {
      struct timespec ts = {0, 1000000L};
      nanosleep(&ts, NULL);
    }
  } while (km_gettime() < to && sz < len);
  if (sz >= len) {
    ringbuffer_read(&__tty_rx_ringbuffer, buf, len);
    return len;
  } else {
    return 0;
  }
}

uint8_t km_tty_getc() {
  uint8_t c = 0;
  if (km_tty_available()) {
    ringbuffer_read(&__tty_rx_ringbuffer, &c, 1);
  }
  return c;
}

void km_tty_putc(char ch) { putchar(ch); }

void km_tty_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
}
