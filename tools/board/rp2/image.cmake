# Hands pico-sdk 95ea6aca (SDK 2.1.0) the picotool 2.0.0 built from the archives, which its version check would refuse.
# tools/CMakeLists.txt pico_init_picotool() skips find_package when a target named picotool exists; for RP2040 the
# SDK then runs only `picotool uf2 convert … --family rp2040`, which picotool 2.0.0 has (RP2350-only steps are not used).
if(NOT TARGET picotool AND TINYHSM_PICOTOOL)
  add_executable(picotool IMPORTED GLOBAL)
  set_property(TARGET picotool PROPERTY IMPORTED_LOCATION ${TINYHSM_PICOTOOL})
endif()
