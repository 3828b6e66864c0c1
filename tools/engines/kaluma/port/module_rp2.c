/* The Linux twin's `rp2` native module: Kaluma's exports with PIO and dormant as stubs, and randomBigInt() from getrandom(2). */
/*
 * Kaluma's src/modules/rp2/module_rp2.c drives the RP2040's PIO and clocks through the pico-sdk, which the twin
 * does not have. The twin keeps Kaluma's own rp2.js (built into a snapshot like on the board, so require('rp2')
 * costs the same heap) and gives it the same native functions: the PIO ones and dormant() throw, because a
 * program that uses them cannot work here; randomBigInt() returns 128 random bits as an unsigned BigInt of two
 * 64-bit digits, as the board's get_rand_128 does (jerry_create_bigint(random.r, 2, false)), from the kernel's
 * CSPRNG instead of pico_rand.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/random.h>

#include "jerryscript.h"
#include "jerryxx.h"
#include "rp2_magic_strings.h"

JERRYXX_FUN(rp2_unsupported_fn) {
  return jerry_create_error(JERRY_ERROR_COMMON, (const jerry_char_t *)"rp2: PIO and dormant are not emulated by the Linux twin");
}

JERRYXX_FUN(random_big_int_fn) {
  uint64_t r[2];
  uint8_t *p = (uint8_t *)r;
  size_t got = 0;
  while (got < sizeof(r)) {
    ssize_t n = getrandom(p + got, sizeof(r) - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return jerry_create_error(JERRY_ERROR_COMMON, (const jerry_char_t *)"rp2: getrandom failed");
    got += (size_t)n;
  }
  return jerry_create_bigint(r, 2, false);
}

jerry_value_t module_rp2_init() {
  jerry_value_t exports = jerry_create_object();
  const char *unsupported[] = {
      MSTR_RP2_PIO_ADD_PROGRAM, MSTR_RP2_PIO_SM_INIT,   MSTR_RP2_PIO_SM_SET_ENABLED, MSTR_RP2_PIO_SM_RESTART,
      MSTR_RP2_PIO_SM_EXEC,     MSTR_RP2_PIO_SM_PUT,    MSTR_RP2_PIO_SM_GET,         MSTR_RP2_PIO_SM_SET_PINS,
      MSTR_RP2_PIO_SM_RXFIFO,   MSTR_RP2_PIO_SM_TXFIFO, MSTR_RP2_PIO_SM_CLEAR_FIFOS, MSTR_RP2_PIO_SM_DRAIN_TXFIFO,
      MSTR_RP2_PIO_SM_IRQ,      MSTR_RP2_DORMANT,
  };
  for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
    jerryxx_set_property_function(exports, unsupported[i], rp2_unsupported_fn);
  }
  jerryxx_set_property_function(exports, MSTR_RP2_RANDOM_BIG_INT, random_big_int_fn);
  return exports;
}
