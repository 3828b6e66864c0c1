# Compiles Kaluma 1.2's C sources with the twin's port files and links the upload and image twins (run by build.sh, which builds JerryScript and the generated sources first).
#
# Variables from build.sh: K (the unpacked Kaluma tree with lib/jerryscript and lib/littlefs), W (work dir),
# PORT (tools/engines/kaluma/port), IMAGE_SRC (tools/engines/kaluma/image), OUT (where the twins go),
# HAVE_IMAGE (1 when bundles were given: their generated sources are in $(W)/gen-image-180 and -256).
# The source list is targets/linux/target.cmake + tools/kaluma.cmake + each module's module.cmake for the module
# list of targets/rp2/target.cmake (without the Pico W's pico_cyw43), with Kaluma's targets/linux/src/{tty,flash,
# system,main}.c and the rp2 module's native part replaced by port/ (see each file's header).
CC := gcc
ARCH := -m32
CFLAGS := $(ARCH) -O2 -g -std=gnu11 -MMD -MP -DLFS_NO_ERROR -DLFS_NO_ASSERT
OBJ := $(W)/obj
GEN := $(K)/src/gen
JERRY := $(K)/lib/jerryscript

MODULE_DIRS := pwm i2c spi uart graphics storage stream rp2 rtc flash fs vfs_lfs vfs_fat sdcard wdt \
  events gpio led button adc at wifi net http url path startup
INC := -I$(K)/include -I$(K)/include/port -I$(K)/src -I$(K)/src/modules \
  $(addprefix -I$(K)/src/modules/,$(MODULE_DIRS)) \
  -I$(K)/targets/rp2/boards/pico -I$(K)/lib/littlefs -I$(K)/lib/oofatfs -I$(PORT) -I$(GEN) \
  $(addprefix -I$(JERRY)/,jerry-core jerry-core/api jerry-core/debugger jerry-core/ecma/base \
    jerry-core/ecma/builtin-objects jerry-core/ecma/builtin-objects/typedarray jerry-core/ecma/operations \
    jerry-core/include jerry-core/jcontext jerry-core/jmem jerry-core/jrt jerry-core/lit jerry-core/parser/js \
    jerry-core/parser/regexp jerry-core/vm jerry-ext/arg jerry-ext/include jerry-libm)

KALUMA_SRC := $(addprefix src/,err.c utils.c base64.c io.c runtime.c repl.c jerry_port.c jerryxx.c global.c prog.c \
    ymodem.c ringbuffer.c) \
  $(addprefix targets/linux/src/,adc.c gpio.c pwm.c i2c.c spi.c uart.c rtc.c wdt.c) \
  targets/linux/boards/default/board.c \
  $(addprefix src/modules/,pwm/module_pwm.c i2c/module_i2c.c spi/module_spi.c uart/module_uart.c \
    graphics/gc_cb_prims.c graphics/gc_1bit_prims.c graphics/gc_3bit_prims.c graphics/gc_16bit_prims.c \
    graphics/gc.c graphics/font_default.c graphics/module_graphics.c storage/storage.c storage/module_storage.c \
    stream/module_stream.c rtc/module_rtc.c flash/module_flash.c fs/module_fs.c vfs_lfs/vfs_lfs.c \
    vfs_lfs/module_vfs_lfs.c vfs_fat/vfs_fat.c vfs_fat/module_vfs_fat.c sdcard/module_sdcard.c wdt/module_wdt.c) \
  lib/littlefs/lfs.c lib/littlefs/lfs_util.c lib/oofatfs/ff.c lib/oofatfs/ffunicode.c
PORT_SRC := system.c flash.c module_rp2.c stats.c

COMMON_OBJ := $(addprefix $(OBJ)/k/,$(KALUMA_SRC:.c=.o)) $(addprefix $(OBJ)/port/,$(PORT_SRC:.c=.o))
# each form registers its own magic strings: the image's include the static boot module's literals (js2c.mjs --static)
UPLOAD_OBJ := $(OBJ)/upload/tty.o $(OBJ)/upload/main.o $(OBJ)/upload/kaluma_modules.o $(OBJ)/upload/kaluma_magic_strings.o
# per heap size: each image twin has its own bundle, generated into $(W)/gen-image-<heap> by build.sh
IMAGE_OBJ = $(addprefix $(OBJ)/image-$(1)/,tty.o main.o kaluma_modules.o kaluma_magic_strings.o)
LDFLAGS := $(ARCH) -Wl,--wrap=jerry_port_fatal
LIBS = $(OBJ)/jerry-$(1)/jmem_peak.o $(W)/jerry-$(1)/lib/libjerry-core.a $(W)/jerry-$(1)/lib/libjerry-ext.a -lm -lpthread

TWINS := $(OUT)/kaluma-180.elf $(OUT)/kaluma-256.elf
ifeq ($(HAVE_IMAGE),1)
TWINS += $(OUT)/kaluma-180-image.elf $(OUT)/kaluma-256-image.elf
endif

all: $(TWINS)

$(OBJ)/k/%.o: $(K)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -c $< -o $@

$(OBJ)/port/%.o: $(PORT)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -c $< -o $@

# port/jmem_peak.c is part of the engine: built with libjerry-core's defines and includes (cmake's flags.make)
JERRY_FLAGS = $(shell sed -n 's/^C_DEFINES = //p;s/^C_INCLUDES = //p' $(W)/jerry-$(1)/jerry-core/CMakeFiles/jerry-core.dir/flags.make)
$(OBJ)/jerry-%/jmem_peak.o: $(PORT)/jmem_peak.c $(W)/jerry-%/lib/libjerry-core.a
	@mkdir -p $(dir $@)
	$(CC) $(ARCH) -O2 -std=c99 $(call JERRY_FLAGS,$*) -c $< -o $@

$(OBJ)/upload/tty.o: $(PORT)/tty.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -c $< -o $@
$(OBJ)/upload/main.o: $(PORT)/main.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -c $< -o $@
$(OBJ)/upload/kaluma_modules.o: $(GEN)/kaluma_modules.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -c $< -o $@
$(OBJ)/upload/kaluma_magic_strings.o: $(GEN)/kaluma_magic_strings.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(INC) -c $< -o $@

# the image objects see the generated header with the boot module first; % is the heap size
$(OBJ)/image-%/tty.o: $(PORT)/tty.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DKM_TTY_ETX_IS_DATA -I$(W)/gen-image-$* $(INC) -c $< -o $@
$(OBJ)/image-%/main.o: $(IMAGE_SRC)/main.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(W)/gen-image-$* $(INC) -c $< -o $@
$(OBJ)/image-%/kaluma_modules.o: $(W)/gen-image-%/kaluma_modules.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(W)/gen-image-$* $(INC) -c $< -o $@
$(OBJ)/image-%/kaluma_magic_strings.o: $(W)/gen-image-%/kaluma_magic_strings.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(W)/gen-image-$* $(INC) -c $< -o $@

.SECONDEXPANSION:
$(OUT)/kaluma-%-image.elf: $(COMMON_OBJ) $$(call IMAGE_OBJ,$$*) $(OBJ)/jerry-%/jmem_peak.o $(W)/jerry-%/lib/libjerry-core.a
	$(CC) $(LDFLAGS) -o $@ $(COMMON_OBJ) $(call IMAGE_OBJ,$*) $(call LIBS,$*)

$(OUT)/kaluma-%.elf: $(COMMON_OBJ) $(UPLOAD_OBJ) $(OBJ)/jerry-%/jmem_peak.o $(W)/jerry-%/lib/libjerry-core.a
	$(CC) $(LDFLAGS) -o $@ $(COMMON_OBJ) $(UPLOAD_OBJ) $(call LIBS,$*)

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)

.PHONY: all
