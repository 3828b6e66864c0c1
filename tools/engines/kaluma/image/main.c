/* The image twin's main: a Kaluma board image whose program is a built-in snapshot module run in place at boot, with no REPL on the link. */
/*
 * A replacement for targets/<target>/src/main.c (this file is for targets/linux; a Pico / Pico 2 image would
 * make the same two changes to targets/rp2/src/main.c and leave tud_cdc_set_wanted_char out of its tty.c, see
 * README.md beside this file):
 *   1. The firmware bundle is compiled in as one more JerryScript snapshot module (tools/engines/kaluma/js2c.mjs
 *      --boot=tinyhsm=…, the mechanism of Kaluma's tools/js2c.js). jerry_exec_snapshot runs it from the const
 *      array (flash on a board) with JERRY_SNAPSHOT_EXEC_ALLOW_STATIC and without JERRY_SNAPSHOT_EXEC_COPY_DATA.
 *      As a static snapshot (js2c.mjs --static, the default of build.sh) nothing of it goes to the heap: byte code
 *      and literal tables stay in flash and its strings are external magic strings (kaluma_magic_strings.c). As a
 *      plain snapshot, like Kaluma's own modules (src/global.c process_get_builtin_module_fn), each function's
 *      header and literal table is copied into the heap and each literal created there. Nothing is parsed at boot.
 *   2. No REPL: km_repl_init is not called, so no tty handle takes the link's bytes in the event loop; the
 *      program reads them with process.stdin.read(). Byte 0x03 is just data (tty.c built with KM_TTY_ETX_IS_DATA),
 *      so the program cannot be stopped from the link.
 * The module is called like Kaluma calls board.js (src/global.c run_board_module): fn(exports, require, module).
 */
#include <stdio.h>
#include <stdlib.h>

#include "board.h"
#include "gpio.h"
#include "io.h"
#include "jerryscript.h"
#include "jerryxx.h"
#include "kaluma_modules.h"
#include "magic_strings.h"
#include "runtime.h"
#include "system.h"
#include "tty.h"
#include "twin.h"

/* __twinProbe(stage), defined only with $TINYHSM_PROBE: lets a measurement build of the bundle mark its own stages. */
static jerry_value_t probe_handler(const jerry_value_t func, const jerry_value_t this_val, const jerry_value_t args[],
                                   const jerry_length_t argc) {
  (void)func;
  (void)this_val;
  char stage[64] = "js";
  if (argc > 0 && jerry_value_is_string(args[0])) {
    jerry_size_t n = jerry_substring_to_char_buffer(args[0], 0, sizeof(stage) - 1, (jerry_char_t *)stage, sizeof(stage) - 1);
    stage[n] = '\0';
  }
  twin_probe(stage);
  return jerry_create_undefined();
}

static void define_probe(void) {
  if (getenv("TINYHSM_PROBE") == NULL) return;
  jerry_value_t global = jerry_get_global_object();
  jerry_value_t fn = jerry_create_external_function(probe_handler);
  jerry_value_t name = jerry_create_string((const jerry_char_t *)"__twinProbe");
  jerry_release_value(jerry_set_property(global, name, fn));
  jerry_release_value(name);
  jerry_release_value(fn);
  jerry_release_value(global);
}

static void run_boot_module(void) {
  define_probe();
  twin_probe("runtime");
  jerry_value_t fn = jerry_exec_snapshot((const uint32_t *)module_tinyhsm_code, module_tinyhsm_size, 0,
                                         JERRY_SNAPSHOT_EXEC_ALLOW_STATIC);
  if (jerry_value_is_error(fn)) {
    jerryxx_print_error(fn, true);
    jerry_release_value(fn);
    return;
  }
  /* loaded, nothing has run: a plain snapshot's function headers, literal tables and literals are in the heap now */
  twin_probe("snapshot loaded");
  jerry_value_t this_val = jerry_create_undefined();
  jerry_value_t global = jerry_get_global_object();
  jerry_value_t require = jerryxx_get_property(global, MSTR_REQUIRE);
  jerry_value_t exports = jerry_create_object();
  jerry_value_t module = jerry_create_object();
  jerry_value_t args[3] = {exports, require, module};
  jerry_value_t ret_val = jerry_call_function(fn, this_val, args, 3);
  if (jerry_value_is_error(ret_val)) {
    jerryxx_print_error(ret_val, true);
  }
  jerry_release_value(ret_val);
  jerry_release_value(module);
  jerry_release_value(exports);
  jerry_release_value(require);
  jerry_release_value(global);
  jerry_release_value(this_val);
  jerry_release_value(fn);
  twin_probe("top level evaluated");
}

int main(void) {
  twin_stats_init();
  km_system_init();
  km_tty_init();
  km_io_init();
  km_runtime_init(false, true);
  run_boot_module();
  twin_stats_after_load();
  km_io_run(true);
  return 0;
}
