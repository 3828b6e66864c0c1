/* The upload twin's main: Kaluma on a Pico with a program uploaded (`kaluma flash prog.js`), the program's text given on the command line. */
/*
 * Follows targets/rp2/src/main.c and src/runtime.c km_runtime_load(): the REPL starts on the tty (with its
 * welcome banner), the runtime starts, then the uploaded program is parsed from its text into the JavaScript heap
 * (jerry_parse, strict mode) and run; an error is printed and the VM is reset (km_runtime_cleanup +
 * km_runtime_init) as on the board; then Kaluma's event loop runs for ever. The board keeps the program's text in
 * flash (program sectors 4..131) and the twin in C memory: either way the text costs no JS heap.
 * Usage: kaluma-256 [program.js]; stdin/stdout is the USB CDC, $TINYHSM_FLASH the flash, $TINYHSM_ENGINE_STATS
 * receives the memory statistics at power off (port/stats.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "board.h"
#include "gpio.h"
#include "io.h"
#include "jerryscript.h"
#include "jerryxx.h"
#include "repl.h"
#include "runtime.h"
#include "system.h"
#include "tty.h"
#include "twin.h"

static char *read_file(const char *path, long *size) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  *size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)*size + 1);
  if (text == NULL || fread(text, 1, (size_t)*size, f) != (size_t)*size) {
    fprintf(stderr, "%s: cannot read\n", path);
    exit(2);
  }
  text[*size] = '\0';
  fclose(f);
  return text;
}

/* src/runtime.c km_runtime_load() with the program's text from a file instead of km_prog_addr() */
static void load_program(const jerry_char_t *script, size_t size) {
  jerry_value_t parsed_code = jerry_parse(NULL, 0, script, size, JERRY_PARSE_STRICT_MODE);
  if (!jerry_value_is_error(parsed_code)) {
    jerry_value_t ret_value = jerry_run(parsed_code);
    if (jerry_value_is_error(ret_value)) {
      jerryxx_print_error(ret_value, true);
      jerry_release_value(ret_value);
      jerry_release_value(parsed_code);
      km_runtime_cleanup();
      km_runtime_init(false, false);
      return;
    }
    jerry_release_value(ret_value);
  } else {
    jerryxx_print_error(parsed_code, true);
  }
  jerry_release_value(parsed_code);
}

int main(int argc, char *argv[]) {
  long size = 0;
  char *script = argc > 1 ? read_file(argv[1], &size) : NULL;
  twin_stats_init();
  km_system_init();
  km_tty_init();
  km_io_init();
  km_repl_init(true);
  km_runtime_init(false, true);
  if (script != NULL) load_program((const jerry_char_t *)script, (size_t)size);
  twin_stats_after_load();
  km_io_run(true);
  return 0;
}
