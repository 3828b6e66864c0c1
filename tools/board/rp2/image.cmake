# CMAKE_PROJECT_INCLUDE of the board image build (tools/board/build.sh): no USB reboot to BOOTSEL, and the picotool built from the archives.
#
# 1. pico-sdk's pico_stdio_usb lets the USB host reboot the board into its BOOTSEL bootloader by setting the CDC port
#    to 1200 baud (PICO_STDIO_USB_ENABLE_RESET_VIA_BAUD_RATE) or through an extra vendor interface that picotool uses
#    (PICO_STDIO_USB_ENABLE_RESET_VIA_VENDOR_INTERFACE); both default to 1 (src/rp2_common/pico_stdio_usb/include/
#    pico/stdio_usb.h, reset_interface.c). In BOOTSEL the bootloader reads and writes all of flash for anyone on USB
#    (`picotool save -a`, a new UF2): the key store and the identity seed, or a replaced program. The image turns both
#    off, so reaching BOOTSEL takes the BOOTSEL button held at power-up: the board in hand (docs/boards.md, "a flash dump").
#    tools/board/check-image.mjs checks that tud_cdc_line_coding_cb, resetd_init and rom_reset_usb_boot are absent.
add_compile_definitions(PICO_STDIO_USB_ENABLE_RESET_VIA_BAUD_RATE=0 PICO_STDIO_USB_ENABLE_RESET_VIA_VENDOR_INTERFACE=0)

# 2. pico-sdk 95ea6aca (SDK 2.1.0) wants picotool 2.1.0 (tools/CMakeLists.txt pico_init_picotool: find_package
#    picotool 2.1.0, else fetch it from git); the archives hold picotool 2.0.0. pico_init_picotool skips the search when
#    a target named picotool exists, so it gets the one build.sh built. What the SDK then runs: `picotool uf2 convert
#    … --family rp2040|rp2350-arm-s [--abs-block]` and, for RP2350, `picotool coprodis` on the .dis listing; picotool
#    2.0.0 has both (main.cpp uf2 convert --abs-block, coprodis_command).
if(NOT TARGET picotool AND TINYHSM_PICOTOOL)
  add_executable(picotool IMPORTED GLOBAL)
  set_property(TARGET picotool PROPERTY IMPORTED_LOCATION ${TINYHSM_PICOTOOL})
endif()
