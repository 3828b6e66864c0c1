/* jmem_heap_stats_reset_peak for the twins' probes (stats.c): JerryScript 2.4's jmem.h declares it under JERRY_MEM_STATS but no file defines it. */
/*
 * Compiled once per heap size with libjerry-core's own defines and include paths (twin.mk reads them from cmake's
 * flags.make), so that the context it writes has the library's layout.
 */
#include "jcontext.h"

void jmem_heap_stats_reset_peak (void)
{
  JERRY_CONTEXT (jmem_heap_stats).peak_allocated_bytes = JERRY_CONTEXT (jmem_heap_stats).allocated_bytes;
} /* jmem_heap_stats_reset_peak */
