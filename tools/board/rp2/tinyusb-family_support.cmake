# Stand-in for tinyusb's hw/bsp/family_support.cmake, which the tinyusb archives (paths src hw/bsp/rp2040 LICENSE) leave out.
# pico-sdk's src/rp2_common/tinyusb/CMakeLists.txt includes it with FAMILY=rp2040 and BOARD=pico_sdk only to reach
# hw/bsp/rp2040/family.cmake, which defines the tinyusb_*_base libraries the SDK links. family.cmake needs TOP (the
# tinyusb root); the example helpers of the real file (family_configure_* callers, flashing) are not used by the SDK.
get_filename_component(TOP "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
include(${CMAKE_CURRENT_LIST_DIR}/${FAMILY}/family.cmake)
