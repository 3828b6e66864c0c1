# Make settings for Espruino's BOARD=LINUX build as a board twin (passed as SETDEFINES=, which the Makefile includes after the board file).
#
# 32-bit, as the boards' Cortex-M: JsVarRef bit widths and the 4-byte JSVAR_DATA_STRING_NAME_LEN then match a board,
# so a JsVar has the board's size (src/jsutils.h, "JsVarRef = uint16_t -> 13->16 bytes/JsVar"). boards/LINUX.py
# names -m32 together with USE_CALLFUNCTION_HACK as the way to test 32-bit builds.
CFLAGS += -m32
LDFLAGS += -m32
DEFINES += -DUSE_CALLFUNCTION_HACK
# Libraries the boards in question (boards/PICO_R1_3.py, ESPRUINOWIFI.py, BANGLEJS2.py) do not have, or that tinyhsm
# does not touch: they only cost build time. The crypto module stays (CRYPTO, SHA256, SHA512, AES_CCM from
# boards/LINUX.py) and AES is added, as Pico and WiFi get it through TLS (make/crypto/default.make).
USE_NET=
USE_TENSORFLOW=
USE_GRAPHICS=
USE_FILESYSTEM=
USE_TLS=
USE_TELNET=
USE_AES=1
