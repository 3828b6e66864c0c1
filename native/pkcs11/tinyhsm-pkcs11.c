/* tinyhsm-pkcs11.so: a PKCS#11 v2.40 module that forwards each call to `tinyhsm pkcs11` in p11-kit's RPC protocol version 0 and passes every mechanism through (docs/pkcs11.md §8). */
#define _GNU_SOURCE
#include "pkcs11.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/* The ABI this file assumes (docs/pkcs11.md §8.3): a CK_VERSION then 68 pointers, CK_ULONG carried as a uint64. */
_Static_assert(sizeof(CK_FUNCTION_LIST) == offsetof(CK_FUNCTION_LIST, C_Initialize) + 68 * sizeof(void *), "CK_FUNCTION_LIST holds 68 functions");
_Static_assert(offsetof(CK_FUNCTION_LIST, C_WaitForSlotEvent) == offsetof(CK_FUNCTION_LIST, C_Initialize) + 67 * sizeof(void *), "C_WaitForSlotEvent is last");
_Static_assert(sizeof(CK_ULONG) <= sizeof(uint64_t), "a CK_ULONG fits the wire's uint64");
_Static_assert(sizeof(CK_DATE) == 8, "CK_DATE is 8 bytes");

/* Limits of the wire (docs/pkcs11.md §3 item 2): a body either way at most 1 MiB, options at most 4 KiB. */
#define MAX_BODY (1u << 20)
#define MAX_OPTIONS 4096u
/* The header: uint32 code, uint32 options length, uint32 body length. */
#define HEADER 12u
/* C_SignUpdate parts over this are sent as several C_SignUpdate calls (docs/pkcs11.md §8.4). */
#define UPDATE_CHUNK (512u * 1024u)
/* p11-kit's handshake string, carried by C_Initialize (rpc-message.h P11_RPC_HANDSHAKE). */
#define HANDSHAKE "PRIVATE-GNOME-KEYRING-PKCS11-PROTOCOL-V-1"

/* Call ids of p11-kit 0.24.1's table (host/pkcs11/constants.ts RPC_CALLS) that this module sends. */
enum {
  CALL_ERROR = 0,
  CALL_Initialize = 1,
  CALL_Finalize = 2,
  CALL_GetInfo = 3,
  CALL_GetSlotList = 4,
  CALL_GetSlotInfo = 5,
  CALL_GetTokenInfo = 6,
  CALL_GetMechanismList = 7,
  CALL_GetMechanismInfo = 8,
  CALL_OpenSession = 10,
  CALL_CloseSession = 11,
  CALL_CloseAllSessions = 12,
  CALL_GetSessionInfo = 13,
  CALL_Login = 18,
  CALL_Logout = 19,
  CALL_DestroyObject = 22,
  CALL_GetAttributeValue = 24,
  CALL_FindObjectsInit = 26,
  CALL_FindObjects = 27,
  CALL_FindObjectsFinal = 28,
  CALL_SignInit = 42,
  CALL_Sign = 43,
  CALL_SignUpdate = 44,
  CALL_SignFinal = 45,
  CALL_GenerateKeyPair = 59,
  CALL_COUNT = 60
};

/* Request and response signatures by call id; NULL for the calls this module never sends. */
static const struct {
  const char *name, *request, *response;
} CALLS[CALL_COUNT] = {
    [CALL_ERROR] = {"error", "", "u"},
    [CALL_Initialize] = {"C_Initialize", "ayyay", ""},
    [CALL_Finalize] = {"C_Finalize", "", ""},
    [CALL_GetInfo] = {"C_GetInfo", "", "vsusv"},
    [CALL_GetSlotList] = {"C_GetSlotList", "yfu", "au"},
    [CALL_GetSlotInfo] = {"C_GetSlotInfo", "u", "ssuvv"},
    [CALL_GetTokenInfo] = {"C_GetTokenInfo", "u", "ssssuuuuuuuuuuuvvs"},
    [CALL_GetMechanismList] = {"C_GetMechanismList", "ufu", "au"},
    [CALL_GetMechanismInfo] = {"C_GetMechanismInfo", "uu", "uuu"},
    [CALL_OpenSession] = {"C_OpenSession", "uu", "u"},
    [CALL_CloseSession] = {"C_CloseSession", "u", ""},
    [CALL_CloseAllSessions] = {"C_CloseAllSessions", "u", ""},
    [CALL_GetSessionInfo] = {"C_GetSessionInfo", "u", "uuuu"},
    [CALL_Login] = {"C_Login", "uuay", ""},
    [CALL_Logout] = {"C_Logout", "u", ""},
    [CALL_DestroyObject] = {"C_DestroyObject", "uu", ""},
    [CALL_GetAttributeValue] = {"C_GetAttributeValue", "uufA", "aAu"},
    [CALL_FindObjectsInit] = {"C_FindObjectsInit", "uaA", ""},
    [CALL_FindObjects] = {"C_FindObjects", "ufu", "au"},
    [CALL_FindObjectsFinal] = {"C_FindObjectsFinal", "u", ""},
    [CALL_SignInit] = {"C_SignInit", "uMu", ""},
    [CALL_Sign] = {"C_Sign", "uayfy", "ay"},
    [CALL_SignUpdate] = {"C_SignUpdate", "uay", ""},
    [CALL_SignFinal] = {"C_SignFinal", "ufy", "ay"},
    [CALL_GenerateKeyPair] = {"C_GenerateKeyPair", "uMaAaA", "uu"},
};

/* ------------------------------------------------------------------------------------------------ state */

static struct {
  /* 1 between a successful C_Initialize and C_Finalize (read and written with __atomic, in this process only: pid) */
  int initialized;
  pid_t pid;
  /* the connection; -1 once it was dropped (every call then answers CKR_DEVICE_REMOVED until C_Finalize) */
  int fd;
  /* the frame code of the next request (p11-kit's client numbers from 16) */
  uint32_t next_code;
  /* the lock every call holds for its whole request and answer: the application's, or `mutex` (never destroyed) */
  int app_locking;
  CK_VOID_PTR app_mutex;
  CK_CREATEMUTEX app_create;
  CK_DESTROYMUTEX app_destroy;
  CK_LOCKMUTEX app_lock;
  CK_UNLOCKMUTEX app_unlock;
  pthread_mutex_t mutex;
  int debug;
} g = {.fd = -1, .mutex = PTHREAD_MUTEX_INITIALIZER};

/* Orders C_Initialize and C_Finalize among themselves (the call lock does not exist before C_Initialize). */
static pthread_mutex_t init_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((format(printf, 1, 2))) static void debug(const char *fmt, ...) {
  if (!g.debug) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("tinyhsm-pkcs11: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static int is_initialized(void) { return __atomic_load_n(&g.initialized, __ATOMIC_ACQUIRE) && g.pid == getpid(); }

static CK_RV lock_call(void) {
  if (g.app_locking) return g.app_lock(g.app_mutex);
  return pthread_mutex_lock(&g.mutex) == 0 ? CKR_OK : CKR_GENERAL_ERROR;
}

static void unlock_call(void) {
  if (g.app_locking)
    g.app_unlock(g.app_mutex);
  else
    pthread_mutex_unlock(&g.mutex);
}

/* Close the connection: the server ends this application's sessions, login and operations with it. */
static void drop_connection(const char *why) {
  if (g.fd >= 0) {
    debug("connection dropped: %s", why);
    close(g.fd);
  }
  g.fd = -1;
}

/* ------------------------------------------------------------------------------------------------ request encoding */

typedef struct {
  uint8_t *p;
  size_t len, cap;
  /* 0 ok; CKR_HOST_MEMORY, or CKR_ARGUMENTS_BAD for a request over MAX_BODY or a value the wire cannot carry */
  CK_RV fail;
} wbuf;

/* Room for n more bytes. A grown buffer is copied and the old one wiped: requests may hold a PIN. */
static int w_need(wbuf *b, size_t n) {
  if (b->fail) return 0;
  if (n > HEADER + MAX_BODY - b->len) {
    b->fail = CKR_ARGUMENTS_BAD;
    return 0;
  }
  if (b->len + n <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->len + n) cap *= 2;
  if (cap > HEADER + MAX_BODY) cap = HEADER + MAX_BODY;
  uint8_t *p = malloc(cap);
  if (!p) {
    b->fail = CKR_HOST_MEMORY;
    return 0;
  }
  if (b->p) {
    memcpy(p, b->p, b->len);
    explicit_bzero(b->p, b->cap);
    free(b->p);
  }
  b->p = p;
  b->cap = cap;
  return 1;
}

static void w_free(wbuf *b) {
  if (b->p) {
    explicit_bzero(b->p, b->cap);
    free(b->p);
  }
  b->p = NULL;
  b->len = b->cap = 0;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) { return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3]; }

static void w_byte(wbuf *b, uint8_t v) {
  if (w_need(b, 1)) b->p[b->len++] = v;
}

static void w_u32(wbuf *b, uint32_t v) {
  if (!w_need(b, 4)) return;
  put32(b->p + b->len, v);
  b->len += 4;
}

/* 'u': a CK_ULONG as uint64. */
static void w_u64(wbuf *b, uint64_t v) {
  w_u32(b, (uint32_t)(v >> 32));
  w_u32(b, (uint32_t)v);
}

/* A byte array: uint32 length then the bytes; NULL is the length 0xffffffff (lengths of 0x7fffffff and up cannot be sent). */
static void w_bytes(wbuf *b, const void *data, CK_ULONG len) {
  if (!data) {
    w_u32(b, 0xffffffffu);
    return;
  }
  if (len >= 0x7fffffffUL) {
    if (!b->fail) b->fail = CKR_ARGUMENTS_BAD;
    return;
  }
  w_u32(b, (uint32_t)len);
  if (len && w_need(b, len)) {
    memcpy(b->p + b->len, data, len);
    b->len += len;
  }
}

/*
 * 'ay' in a request: valid byte 1 and the byte array, or (no data) the valid byte 0 alone, which is what the server
 * reads (rpc-server.c proto_read_byte_array; docs/pkcs11.md §3 item 4). p11-kit's client writes a uint32 length after
 * the 0 as well, which its own server does not read; this module does not.
 */
static void w_array(wbuf *b, const void *data, CK_ULONG len) {
  if (!data) {
    w_byte(b, 0);
    return;
  }
  w_byte(b, 1);
  w_bytes(b, data, len);
}

/* 'fy' / 'fu': the size of the caller's buffer, 0 when it passed none (the length-only form). */
static void w_room(wbuf *b, const void *buffer, CK_ULONG room) { w_u32(b, !buffer ? 0 : room > 0xffffffffUL ? 0xffffffffu : (uint32_t)room); }

/* How p11-kit 0.24.1 carries an attribute's value (rpc-message.c map_attribute_to_value_type; constants.ts valueKind). */
enum kind { K_BYTE, K_ULONG, K_ATTRIBUTES, K_MECHANISMS, K_DATE, K_BYTES };

static enum kind kind_of(CK_ATTRIBUTE_TYPE t) {
  switch (t) {
    case 0x1: case 0x2: case 0x86: case 0x103: case 0x104: case 0x105: case 0x106: case 0x107: case 0x108: case 0x109: case 0x10a:
    case 0x10b: case 0x10c: case 0x162: case 0x163: case 0x164: case 0x165: case 0x170: case 0x171: case 0x200: case 0x202: case 0x210:
    case 0x301: case 0x302: case 0x405:
      return K_BYTE;
    case 0x0: case 0x80: case 0x87: case 0x88: case 0x100: case 0x121: case 0x133: case 0x134: case 0x160: case 0x161: case 0x166:
    case 0x201: case 0x300: case 0x400: case 0x401: case 0x402: case 0x403: case 0x404: case 0x406: case 0x500:
      return K_ULONG;
    case CKA_WRAP_TEMPLATE: case CKA_UNWRAP_TEMPLATE:
      return K_ATTRIBUTES;
    case CKA_ALLOWED_MECHANISMS:
      return K_MECHANISMS;
    case CKA_START_DATE: case CKA_END_DATE:
      return K_DATE;
    default:
      return K_BYTES;
  }
}

/*
 * One attribute of an 'aA' template: uint32 type, byte valid (0 when ulValueLen is CK_UNAVAILABLE_INFORMATION), then
 * uint32 length and the value by its kind (rpc-message.c p11_rpc_buffer_add_attribute). `nested`: inside a
 * CKA_WRAP_TEMPLATE, where another template cannot go. Returns a CK_RV for what the wire cannot carry.
 */
static CK_RV w_attribute(wbuf *b, const CK_ATTRIBUTE *a, int nested);

static CK_RV w_template(wbuf *b, const CK_ATTRIBUTE *t, CK_ULONG n, int nested) {
  if (n && !t) return CKR_ARGUMENTS_BAD;
  if (n > 0xffffffffUL) return CKR_ARGUMENTS_BAD;
  w_u32(b, (uint32_t)n);
  for (CK_ULONG i = 0; i < n; i++) {
    CK_RV rv = w_attribute(b, &t[i], nested);
    if (rv != CKR_OK) return rv;
    if (b->fail) return b->fail;
  }
  return CKR_OK;
}

static CK_RV w_attribute(wbuf *b, const CK_ATTRIBUTE *a, int nested) {
  if (a->type > 0xffffffffUL) return CKR_ATTRIBUTE_TYPE_INVALID;
  w_u32(b, (uint32_t)a->type);
  if (a->ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    w_byte(b, 0);
    return CKR_OK;
  }
  if (a->ulValueLen > 0xffffffffUL) return CKR_ATTRIBUTE_VALUE_INVALID;
  /* a length without a value is a caller's mistake the wire would carry as a malformed value */
  if (!a->pValue && a->ulValueLen) return CKR_ARGUMENTS_BAD;
  w_byte(b, 1);
  w_u32(b, (uint32_t)a->ulValueLen);
  switch (kind_of(a->type)) {
    case K_BYTE: {
      if (a->ulValueLen > 1) return CKR_ATTRIBUTE_VALUE_INVALID;
      w_byte(b, a->ulValueLen ? *(const CK_BYTE *)a->pValue : 0);
      return CKR_OK;
    }
    case K_ULONG: {
      CK_ULONG v = 0;
      if (a->ulValueLen > sizeof v) return CKR_ATTRIBUTE_VALUE_INVALID;
      if (a->ulValueLen) memcpy(&v, a->pValue, a->ulValueLen);
      w_u64(b, v);
      return CKR_OK;
    }
    case K_DATE:
      if (a->ulValueLen != 0 && a->ulValueLen != sizeof(CK_DATE)) return CKR_ATTRIBUTE_VALUE_INVALID;
      /* CK_DATE's year, month, day are already the wire's 8 bytes in order; an empty date is a NULL array */
      w_bytes(b, a->ulValueLen ? a->pValue : NULL, a->ulValueLen);
      return CKR_OK;
    case K_MECHANISMS: {
      if (a->ulValueLen % sizeof(CK_MECHANISM_TYPE)) return CKR_ATTRIBUTE_VALUE_INVALID;
      CK_ULONG n = a->ulValueLen / sizeof(CK_MECHANISM_TYPE);
      w_u32(b, (uint32_t)n);
      for (CK_ULONG i = 0; i < n; i++) {
        CK_MECHANISM_TYPE m;
        memcpy(&m, (const CK_BYTE *)a->pValue + i * sizeof m, sizeof m);
        w_u64(b, m);
      }
      return CKR_OK;
    }
    case K_ATTRIBUTES:
      if (nested || a->ulValueLen % sizeof(CK_ATTRIBUTE)) return CKR_ATTRIBUTE_VALUE_INVALID;
      return w_template(b, (const CK_ATTRIBUTE *)a->pValue, a->ulValueLen / sizeof(CK_ATTRIBUTE), 1);
    case K_BYTES:
    default:
      w_bytes(b, a->pValue, a->ulValueLen);
      return CKR_OK;
  }
}

/*
 * 'M': uint32 mechanism type, then its parameter as a byte array (NULL: none). CKM_EDDSA's CK_EDDSA_PARAMS becomes
 * byte phFlag ‖ uint32 context length ‖ context (docs/pkcs11.md §3 item 5); every other parameter goes as its bytes.
 */
static CK_RV w_mechanism(wbuf *b, const CK_MECHANISM *m) {
  if (!m) return CKR_ARGUMENTS_BAD;
  if (m->mechanism > 0xffffffffUL) return CKR_MECHANISM_INVALID;
  if (!m->pParameter && m->ulParameterLen) return CKR_MECHANISM_PARAM_INVALID;
  w_u32(b, (uint32_t)m->mechanism);
  if (m->mechanism == CKM_EDDSA && m->pParameter) {
    if (m->ulParameterLen == 0) {
      w_bytes(b, NULL, 0);
      return CKR_OK;
    }
    if (m->ulParameterLen != sizeof(CK_EDDSA_PARAMS)) return CKR_MECHANISM_PARAM_INVALID;
    CK_EDDSA_PARAMS p;
    memcpy(&p, m->pParameter, sizeof p);
    if (p.ulContextDataLen && !p.pContextData) return CKR_MECHANISM_PARAM_INVALID;
    if (p.ulContextDataLen >= 0x7fffffffUL - 5) return CKR_MECHANISM_PARAM_INVALID;
    w_u32(b, (uint32_t)(5 + p.ulContextDataLen));
    w_byte(b, p.phFlag ? 1 : 0);
    w_u32(b, (uint32_t)p.ulContextDataLen);
    if (p.ulContextDataLen && w_need(b, p.ulContextDataLen)) {
      memcpy(b->p + b->len, p.pContextData, p.ulContextDataLen);
      b->len += p.ulContextDataLen;
    }
    return CKR_OK;
  }
  w_bytes(b, m->pParameter, m->ulParameterLen);
  return CKR_OK;
}

/* ------------------------------------------------------------------------------------------------ response decoding */

typedef struct {
  const uint8_t *p;
  size_t n, pos;
  /* set at the first thing that is not what the signature says: the answer is unusable */
  int bad;
} rbuf;

static int r_has(rbuf *r, size_t n) {
  if (r->bad || n > r->n - r->pos) {
    r->bad = 1;
    return 0;
  }
  return 1;
}

static uint8_t r_byte(rbuf *r) { return r_has(r, 1) ? r->p[r->pos++] : 0; }

static uint32_t r_u32(rbuf *r) {
  if (!r_has(r, 4)) return 0;
  uint32_t v = get32(r->p + r->pos);
  r->pos += 4;
  return v;
}

static uint64_t r_u64(rbuf *r) {
  uint64_t hi = r_u32(r);
  uint64_t lo = r_u32(r);
  return (hi << 32) | lo;
}

static CK_ULONG r_ulong(rbuf *r) {
  uint64_t v = r_u64(r);
  if (v > (uint64_t)~0UL) r->bad = 1;
  return (CK_ULONG)v;
}

/* A byte array: *data points into the answer (NULL for the NULL array, length 0xffffffff); lengths ≥ 0x7fffffff refused. */
static void r_bytes(rbuf *r, const uint8_t **data, size_t *len) {
  *data = NULL;
  *len = 0;
  uint32_t n = r_u32(r);
  if (r->bad || n == 0xffffffffu) return;
  if (n >= 0x7fffffffu || !r_has(r, n)) {
    r->bad = 1;
    return;
  }
  *data = r->p + r->pos;
  *len = n;
  r->pos += n;
}

/* 'v' */
static void r_version(rbuf *r, CK_VERSION *v) {
  v->major = r_byte(r);
  v->minor = r_byte(r);
}

/* 's': a space-padded field, exactly `width` bytes. */
static void r_string(rbuf *r, CK_UTF8CHAR *out, size_t width) {
  const uint8_t *d;
  size_t n;
  r_bytes(r, &d, &n);
  if (r->bad) return;
  if (!d || n != width) {
    r->bad = 1;
    return;
  }
  memcpy(out, d, width);
}

/*
 * 'au' in an answer: valid byte, uint32 count, then (valid) count uint64s. Not valid is the length-only or
 * CKR_BUFFER_TOO_SMALL form (rpc-client.c proto_read_ulong_array). *count always gets the count.
 */
static CK_RV r_ulong_array(rbuf *r, CK_ULONG *arr, CK_ULONG *count, CK_ULONG max) {
  uint8_t valid = r_byte(r);
  uint32_t n = r_u32(r);
  if (r->bad) return CKR_DEVICE_ERROR;
  *count = n;
  if (!valid) return arr ? CKR_BUFFER_TOO_SMALL : CKR_OK;
  if (n > (r->n - r->pos) / 8) {
    r->bad = 1;
    return CKR_DEVICE_ERROR;
  }
  if (!arr || n > max) {
    r->pos += (size_t)n * 8;
    return arr ? CKR_BUFFER_TOO_SMALL : CKR_OK;
  }
  for (uint32_t i = 0; i < n; i++) arr[i] = r_ulong(r);
  return r->bad ? CKR_DEVICE_ERROR : CKR_OK;
}

/* 'ay' in an answer (rpc-client.c proto_read_byte_array): not valid carries the length alone. */
static CK_RV r_out_array(rbuf *r, CK_BYTE *out, CK_ULONG *len) {
  CK_ULONG room = *len;
  uint8_t valid = r_byte(r);
  if (r->bad) return CKR_DEVICE_ERROR;
  if (!valid) {
    uint32_t n = r_u32(r);
    if (r->bad) return CKR_DEVICE_ERROR;
    *len = n;
    return out ? CKR_BUFFER_TOO_SMALL : CKR_OK;
  }
  const uint8_t *d;
  size_t n;
  r_bytes(r, &d, &n);
  if (r->bad) return CKR_DEVICE_ERROR;
  *len = n;
  if (!out) return CKR_OK;
  if (room < n) return CKR_BUFFER_TOO_SMALL;
  if (n) memcpy(out, d, n);
  return CKR_OK;
}

/* ------------------------------------------------------------------------------------------------ the socket */

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* 0: read; -1: the socket failed or ended before n bytes (errno 0 for the end). */
static int read_all(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t k = recv(fd, p, n, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (k == 0) {
      errno = 0;
      return -1;
    }
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

/* One call in progress: its request, its answer. */
typedef struct {
  int id;
  wbuf w;
  uint8_t *body;
  rbuf r;
} call;

/* Write a request's start: room for the frame header, the call id and the call's signature. */
static void call_start(call *c, int id) {
  memset(c, 0, sizeof *c);
  c->id = id;
  w_need(&c->w, HEADER);
  c->w.len = c->w.fail ? 0 : HEADER;
  w_u32(&c->w, (uint32_t)id);
  w_bytes(&c->w, CALLS[id].request, strlen(CALLS[id].request));
}

/* Start a call: checks initialization and the connection, takes the call lock (call_end releases it). */
static CK_RV call_begin(call *c, int id) {
  memset(c, 0, sizeof *c);
  if (!is_initialized()) return CKR_CRYPTOKI_NOT_INITIALIZED;
  CK_RV rv = lock_call();
  if (rv != CKR_OK) return rv;
  if (g.fd < 0) {
    unlock_call();
    return CKR_DEVICE_REMOVED;
  }
  call_start(c, id);
  return CKR_OK;
}

/* A protocol failure: the connection is dropped and the call answers CKR_DEVICE_ERROR. */
static CK_RV call_broken(call *c, const char *why) {
  debug("%s: %s", CALLS[c->id].name, why);
  drop_connection(why);
  return CKR_DEVICE_ERROR;
}

/*
 * Send the request and read the answer: a frame with the request's code, options (skipped) and a body of at most
 * MAX_BODY, whose call id is the request's with its response signature, or 0 with "u" and a CK_RV (the server's
 * refusal; the connection goes on). On CKR_OK c->r is positioned at the first argument.
 */
static CK_RV call_run(call *c) {
  if (c->w.fail) {
    /* nothing was sent; the connection goes on */
    debug("%s: the request cannot be sent (%s)", CALLS[c->id].name, c->w.fail == CKR_HOST_MEMORY ? "out of memory" : "over the 1 MiB limit, or a length the wire cannot carry");
    return c->w.fail;
  }
  uint32_t code = g.next_code++;
  if (g.next_code == 0) g.next_code = 16;
  put32(c->w.p, code);
  put32(c->w.p + 4, 0);
  put32(c->w.p + 8, (uint32_t)(c->w.len - HEADER));
  if (write_all(g.fd, c->w.p, c->w.len) < 0) {
    int e = errno;
    debug("%s: cannot send: %s", CALLS[c->id].name, strerror(e));
    drop_connection("the socket is gone");
    return CKR_DEVICE_REMOVED;
  }
  uint8_t h[HEADER];
  if (read_all(g.fd, h, HEADER) < 0) {
    int e = errno;
    debug("%s: no answer: %s", CALLS[c->id].name, e ? strerror(e) : "the server closed the connection");
    drop_connection("the socket is gone");
    return CKR_DEVICE_REMOVED;
  }
  uint32_t rcode = get32(h), olen = get32(h + 4), dlen = get32(h + 8);
  if (rcode != code) return call_broken(c, "the answer's frame code is not the request's");
  if (olen > MAX_OPTIONS) return call_broken(c, "the answer announces options over 4 KiB");
  if (dlen > MAX_BODY) return call_broken(c, "the answer announces a body over 1 MiB");
  uint8_t skip[MAX_OPTIONS];
  if (olen && read_all(g.fd, skip, olen) < 0) {
    drop_connection("the answer ended early");
    return CKR_DEVICE_REMOVED;
  }
  c->body = malloc(dlen ? dlen : 1);
  if (!c->body) {
    drop_connection("out of memory for an answer");
    return CKR_HOST_MEMORY;
  }
  if (read_all(g.fd, c->body, dlen) < 0) {
    debug("%s: the answer ended early", CALLS[c->id].name);
    drop_connection("the answer ended early");
    return CKR_DEVICE_REMOVED;
  }
  c->r.p = c->body;
  c->r.n = dlen;
  uint32_t id = r_u32(&c->r);
  const uint8_t *sig;
  size_t siglen;
  r_bytes(&c->r, &sig, &siglen);
  if (c->r.bad) return call_broken(c, "the answer has no call id and signature");
  if (id != 0 && id != (uint32_t)c->id) return call_broken(c, "the answer is for another call");
  const char *want = CALLS[id].response;
  if (!sig || siglen != strlen(want) || memcmp(sig, want, siglen) != 0) return call_broken(c, "the answer's signature is not the call's");
  if (id == 0) {
    uint64_t rv = r_u64(&c->r);
    if (c->r.bad || c->r.pos != c->r.n) return call_broken(c, "a malformed error answer");
    if (rv == CKR_OK || rv > (uint64_t)~0UL) return call_broken(c, "an error answer without an error");
    debug("%s: the server answers 0x%lx", CALLS[c->id].name, (unsigned long)rv);
    return (CK_RV)rv;
  }
  return CKR_OK;
}

/*
 * Finish a call: an answer that did not decode as its signature says, or with bytes after its last argument, drops
 * the connection (CKR_DEVICE_ERROR). The request is wiped (it may hold a PIN).
 */
static CK_RV call_finish(call *c, CK_RV rv) {
  if (c->body && g.fd >= 0 && (c->r.bad || c->r.pos != c->r.n))
    rv = call_broken(c, c->r.bad ? "the answer's arguments do not decode" : "bytes after the answer's last argument");
  w_free(&c->w);
  free(c->body);
  c->body = NULL;
  return rv;
}

/* call_finish, and the lock call_begin took released. */
static CK_RV call_end(call *c, CK_RV rv) {
  rv = call_finish(c, rv);
  unlock_call();
  return rv;
}

/* ------------------------------------------------------------------------------------------------ where the server is */

/* p11-kit's runtime directory (common/runtime.c p11_get_runtime_directory). */
static int runtime_directory(char *out, size_t size) {
  const char *e = secure_getenv("XDG_RUNTIME_DIR");
  if (e && *e) return snprintf(out, size, "%s", e) < (int)size ? 0 : -1;
  const char *bases[] = {"/run", "/var/run"};
  for (size_t i = 0; i < 2; i++) {
    char dir[64];
    struct stat st;
    snprintf(dir, sizeof dir, "%s/user/%u", bases[i], (unsigned)getuid());
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return snprintf(out, size, "%s", dir) < (int)size ? 0 : -1;
  }
  e = secure_getenv("XDG_CACHE_HOME");
  if (e && *e) return snprintf(out, size, "%s", e) < (int)size ? 0 : -1;
  struct passwd pw, *found = NULL;
  char buf[1024];
  if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found && found->pw_dir && found->pw_dir[0] == '/')
    return snprintf(out, size, "%s/.cache", found->pw_dir) < (int)size ? 0 : -1;
  return -1;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/*
 * The socket's path (docs/pkcs11.md §8.2): $TINYHSM_PKCS11_SOCKET as it is; else $P11_KIT_SERVER_ADDRESS, which must
 * be unix:path=/… (percent-decoded as p11-kit does); else p11-kit's default, <runtime directory>/p11-kit/pkcs11.
 */
static int socket_path(char *out, size_t size) {
  const char *e = secure_getenv("TINYHSM_PKCS11_SOCKET");
  if (e && *e) {
    if (snprintf(out, size, "%s", e) >= (int)size) {
      debug("TINYHSM_PKCS11_SOCKET is longer than a Unix socket path can be");
      return -1;
    }
    return 0;
  }
  e = secure_getenv("P11_KIT_SERVER_ADDRESS");
  if (e && *e) {
    if (strncmp(e, "unix:path=/", 11) != 0) {
      debug("P11_KIT_SERVER_ADDRESS is not unix:path=/…, the only form this module speaks");
      return -1;
    }
    size_t n = 0;
    for (const char *s = e + 10; *s; s++) {
      char ch = *s;
      if (ch == '%') {
        int hi = s[1] ? hexval(s[1]) : -1, lo = hi >= 0 && s[2] ? hexval(s[2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
          debug("P11_KIT_SERVER_ADDRESS has a bad percent escape");
          return -1;
        }
        ch = (char)(hi * 16 + lo);
        s += 2;
      }
      if (n + 1 >= size) {
        debug("P11_KIT_SERVER_ADDRESS names a path longer than a Unix socket path can be");
        return -1;
      }
      out[n++] = ch;
    }
    out[n] = 0;
    return 0;
  }
  char dir[4096];
  if (runtime_directory(dir, sizeof dir) < 0) {
    debug("no TINYHSM_PKCS11_SOCKET, no P11_KIT_SERVER_ADDRESS and no runtime directory");
    return -1;
  }
  if (snprintf(out, size, "%s/p11-kit/pkcs11", dir) >= (int)size) {
    debug("the default socket path is longer than a Unix socket path can be");
    return -1;
  }
  return 0;
}

/* Connect and agree on protocol version 0 (one byte each way, rpc-transport.c rpc_transport_authenticate). */
static int connect_server(void) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (socket_path(sa.sun_path, sizeof sa.sun_path) < 0) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    debug("socket: %s", strerror(errno));
    return -1;
  }
  int r;
  do r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  while (r < 0 && errno == EINTR);
  if (r < 0) {
    debug("cannot connect to %s: %s", sa.sun_path, strerror(errno));
    close(fd);
    return -1;
  }
  uint8_t version = 0;
  if (write_all(fd, &version, 1) < 0 || read_all(fd, &version, 1) < 0) {
    debug("%s: no protocol version byte", sa.sun_path);
    close(fd);
    return -1;
  }
  if (version != 0) {
    debug("%s answers protocol version %u; this module speaks 0", sa.sun_path, version);
    close(fd);
    return -1;
  }
  debug("connected to %s", sa.sun_path);
  return fd;
}

/* ------------------------------------------------------------------------------------------------ general purpose */

/* The call lock: the application's mutex when it gives its functions without CKF_OS_LOCKING_OK (the third case of v2.40's C_Initialize), else `g.mutex`. */
static CK_RV init_lock_objects(const CK_C_INITIALIZE_ARGS *args) {
  g.app_locking = 0;
  if (args && args->CreateMutex && !(args->flags & CKF_OS_LOCKING_OK)) {
    g.app_create = args->CreateMutex;
    g.app_destroy = args->DestroyMutex;
    g.app_lock = args->LockMutex;
    g.app_unlock = args->UnlockMutex;
    g.app_mutex = NULL;
    CK_RV rv = g.app_create(&g.app_mutex);
    if (rv != CKR_OK) return rv;
    g.app_locking = 1;
  }
  return CKR_OK;
}

static void destroy_lock_objects(void) {
  if (g.app_locking) g.app_destroy(g.app_mutex);
  g.app_locking = 0;
}

static CK_RV fn_Initialize(CK_VOID_PTR pInitArgs) {
  const CK_C_INITIALIZE_ARGS *args = pInitArgs;
  if (args) {
    int given = (args->CreateMutex != NULL) + (args->DestroyMutex != NULL) + (args->LockMutex != NULL) + (args->UnlockMutex != NULL);
    if (given != 0 && given != 4) return CKR_ARGUMENTS_BAD;
    if (args->pReserved) return CKR_ARGUMENTS_BAD;
  }
  pthread_mutex_lock(&init_lock);
  const char *d = getenv("TINYHSM_PKCS11_DEBUG");
  g.debug = d && *d;
  CK_RV rv;
  if (__atomic_load_n(&g.initialized, __ATOMIC_ACQUIRE)) {
    if (g.pid == getpid()) {
      pthread_mutex_unlock(&init_lock);
      return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    /* a child after fork(): the parent's connection and lock are not ours to use or end (docs/pkcs11.md §8.5) */
    if (g.fd >= 0) close(g.fd);
    g.fd = -1;
    __atomic_store_n(&g.initialized, 0, __ATOMIC_RELEASE);
    pthread_mutex_init(&g.mutex, NULL);
    g.app_locking = 0;
  }
  int fd = connect_server();
  if (fd < 0) {
    pthread_mutex_unlock(&init_lock);
    return CKR_GENERAL_ERROR;
  }
  rv = init_lock_objects(args);
  if (rv != CKR_OK) {
    close(fd);
    pthread_mutex_unlock(&init_lock);
    return rv;
  }
  g.fd = fd;
  g.pid = getpid();
  g.next_code = 16;
  /* C_Initialize: the handshake string, a byte saying whether pReserved was given (never here) and its string, "" */
  rv = lock_call();
  if (rv == CKR_OK) {
    call c;
    call_start(&c, CALL_Initialize);
    w_array(&c.w, HANDSHAKE, strlen(HANDSHAKE));
    w_byte(&c.w, 0);
    w_array(&c.w, "", 1);
    rv = call_finish(&c, call_run(&c));
    unlock_call();
  }
  if (rv != CKR_OK) {
    /* the server's own refusal is passed on; a broken connection is CKR_GENERAL_ERROR here, which v2.40's C_Initialize may return */
    if (g.fd < 0) rv = CKR_GENERAL_ERROR;
    drop_connection("C_Initialize failed");
    destroy_lock_objects();
    pthread_mutex_unlock(&init_lock);
    return rv;
  }
  __atomic_store_n(&g.initialized, 1, __ATOMIC_RELEASE);
  pthread_mutex_unlock(&init_lock);
  return CKR_OK;
}

static CK_RV fn_Finalize(CK_VOID_PTR pReserved) {
  if (pReserved) return CKR_ARGUMENTS_BAD;
  pthread_mutex_lock(&init_lock);
  if (!is_initialized()) {
    pthread_mutex_unlock(&init_lock);
    return CKR_CRYPTOKI_NOT_INITIALIZED;
  }
  /* calls that start from now on answer "not initialized"; the lock waits for a call still running */
  __atomic_store_n(&g.initialized, 0, __ATOMIC_RELEASE);
  if (lock_call() == CKR_OK) {
    if (g.fd >= 0) {
      call c;
      call_start(&c, CALL_Finalize);
      CK_RV rv = call_finish(&c, call_run(&c));
      if (rv != CKR_OK) debug("C_Finalize: the server answers 0x%lx; closing anyway", rv);
    }
    drop_connection("C_Finalize");
    unlock_call();
  }
  destroy_lock_objects();
  pthread_mutex_unlock(&init_lock);
  return CKR_OK;
}

static CK_RV fn_GetInfo(CK_INFO_PTR pInfo) {
  call c;
  CK_RV rv = call_begin(&c, CALL_GetInfo);
  if (rv != CKR_OK) return rv;
  if (!pInfo) return call_end(&c, CKR_ARGUMENTS_BAD);
  rv = call_run(&c);
  if (rv == CKR_OK) {
    r_version(&c.r, &pInfo->cryptokiVersion);
    r_string(&c.r, pInfo->manufacturerID, 32);
    pInfo->flags = r_ulong(&c.r);
    r_string(&c.r, pInfo->libraryDescription, 32);
    r_version(&c.r, &pInfo->libraryVersion);
  }
  return call_end(&c, rv);
}

static CK_FUNCTION_LIST function_list;

EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList) {
  if (!ppFunctionList) return CKR_ARGUMENTS_BAD;
  *ppFunctionList = &function_list;
  return CKR_OK;
}

/* ------------------------------------------------------------------------------------------------ slots and tokens */

static CK_RV fn_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount) {
  call c;
  CK_RV rv = call_begin(&c, CALL_GetSlotList);
  if (rv != CKR_OK) return rv;
  if (!pulCount) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_byte(&c.w, tokenPresent ? 1 : 0);
  w_room(&c.w, pSlotList, *pulCount);
  rv = call_run(&c);
  if (rv == CKR_OK) rv = r_ulong_array(&c.r, pSlotList, pulCount, *pulCount);
  return call_end(&c, rv);
}

static CK_RV fn_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo) {
  call c;
  CK_RV rv = call_begin(&c, CALL_GetSlotInfo);
  if (rv != CKR_OK) return rv;
  if (!pInfo) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, slotID);
  rv = call_run(&c);
  if (rv == CKR_OK) {
    r_string(&c.r, pInfo->slotDescription, 64);
    r_string(&c.r, pInfo->manufacturerID, 32);
    pInfo->flags = r_ulong(&c.r);
    r_version(&c.r, &pInfo->hardwareVersion);
    r_version(&c.r, &pInfo->firmwareVersion);
  }
  return call_end(&c, rv);
}

static CK_RV fn_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo) {
  call c;
  CK_RV rv = call_begin(&c, CALL_GetTokenInfo);
  if (rv != CKR_OK) return rv;
  if (!pInfo) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, slotID);
  rv = call_run(&c);
  if (rv == CKR_OK) {
    rbuf *r = &c.r;
    r_string(r, pInfo->label, 32);
    r_string(r, pInfo->manufacturerID, 32);
    r_string(r, pInfo->model, 16);
    r_string(r, pInfo->serialNumber, 16);
    pInfo->flags = r_ulong(r);
    pInfo->ulMaxSessionCount = r_ulong(r);
    pInfo->ulSessionCount = r_ulong(r);
    pInfo->ulMaxRwSessionCount = r_ulong(r);
    pInfo->ulRwSessionCount = r_ulong(r);
    pInfo->ulMaxPinLen = r_ulong(r);
    pInfo->ulMinPinLen = r_ulong(r);
    pInfo->ulTotalPublicMemory = r_ulong(r);
    pInfo->ulFreePublicMemory = r_ulong(r);
    pInfo->ulTotalPrivateMemory = r_ulong(r);
    pInfo->ulFreePrivateMemory = r_ulong(r);
    r_version(r, &pInfo->hardwareVersion);
    r_version(r, &pInfo->firmwareVersion);
    r_string(r, pInfo->utcTime, 16);
  }
  return call_end(&c, rv);
}

static CK_RV fn_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount) {
  call c;
  CK_RV rv = call_begin(&c, CALL_GetMechanismList);
  if (rv != CKR_OK) return rv;
  if (!pulCount) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, slotID);
  w_room(&c.w, pMechanismList, *pulCount);
  rv = call_run(&c);
  /* every mechanism the server lists is passed on: it decides, not a list in this module */
  if (rv == CKR_OK) rv = r_ulong_array(&c.r, pMechanismList, pulCount, *pulCount);
  return call_end(&c, rv);
}

static CK_RV fn_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo) {
  call c;
  CK_RV rv = call_begin(&c, CALL_GetMechanismInfo);
  if (rv != CKR_OK) return rv;
  if (!pInfo) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, slotID);
  w_u64(&c.w, type);
  rv = call_run(&c);
  if (rv == CKR_OK) {
    pInfo->ulMinKeySize = r_ulong(&c.r);
    pInfo->ulMaxKeySize = r_ulong(&c.r);
    pInfo->flags = r_ulong(&c.r);
  }
  return call_end(&c, rv);
}

/* ------------------------------------------------------------------------------------------------ sessions */

/* One 'u' argument, an answer without arguments: C_CloseSession, C_CloseAllSessions, C_Logout, C_FindObjectsFinal. */
static CK_RV simple_call(int id, CK_ULONG v) {
  call c;
  CK_RV rv = call_begin(&c, id);
  if (rv != CKR_OK) return rv;
  w_u64(&c.w, v);
  rv = call_run(&c);
  return call_end(&c, rv);
}

static CK_RV fn_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession) {
  /* the server has no notifications to give, so Notify is never called */
  (void)pApplication;
  (void)Notify;
  call c;
  CK_RV rv = call_begin(&c, CALL_OpenSession);
  if (rv != CKR_OK) return rv;
  if (!phSession) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, slotID);
  w_u64(&c.w, flags);
  rv = call_run(&c);
  if (rv == CKR_OK) *phSession = r_ulong(&c.r);
  return call_end(&c, rv);
}

static CK_RV fn_CloseSession(CK_SESSION_HANDLE hSession) { return simple_call(CALL_CloseSession, hSession); }

static CK_RV fn_CloseAllSessions(CK_SLOT_ID slotID) { return simple_call(CALL_CloseAllSessions, slotID); }

static CK_RV fn_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo) {
  call c;
  CK_RV rv = call_begin(&c, CALL_GetSessionInfo);
  if (rv != CKR_OK) return rv;
  if (!pInfo) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, hSession);
  rv = call_run(&c);
  if (rv == CKR_OK) {
    pInfo->slotID = r_ulong(&c.r);
    pInfo->state = r_ulong(&c.r);
    pInfo->flags = r_ulong(&c.r);
    pInfo->ulDeviceError = r_ulong(&c.r);
  }
  return call_end(&c, rv);
}

static CK_RV fn_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen) {
  call c;
  CK_RV rv = call_begin(&c, CALL_Login);
  if (rv != CKR_OK) return rv;
  w_u64(&c.w, hSession);
  w_u64(&c.w, userType);
  /* the PIN's only copy is this request, wiped by call_end; no PIN: the length alone, which the server refuses */
  w_array(&c.w, pPin, ulPinLen);
  rv = call_run(&c);
  return call_end(&c, rv);
}

static CK_RV fn_Logout(CK_SESSION_HANDLE hSession) { return simple_call(CALL_Logout, hSession); }

/* ------------------------------------------------------------------------------------------------ objects */

static CK_RV fn_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject) {
  call c;
  CK_RV rv = call_begin(&c, CALL_DestroyObject);
  if (rv != CKR_OK) return rv;
  w_u64(&c.w, hSession);
  w_u64(&c.w, hObject);
  rv = call_run(&c);
  return call_end(&c, rv);
}

/*
 * One attribute of a C_GetAttributeValue answer into the caller's template entry (rpc-client.c
 * proto_read_attribute_array, with v2.40's C_GetAttributeValue rules): not valid → CK_UNAVAILABLE_INFORMATION; no buffer → the
 * length; a buffer under the length → CK_UNAVAILABLE_INFORMATION and *small; else the value and its length. The value
 * is decoded first in every case, and a value longer than its announced length is a broken answer.
 */
static void r_attribute(rbuf *r, CK_ATTRIBUTE *a, int *small) {
  uint32_t type = r_u32(r);
  uint8_t valid = r_byte(r);
  if (r->bad) return;
  if (type != (uint32_t)a->type) {
    r->bad = 1;
    return;
  }
  if (!valid) {
    a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
    return;
  }
  uint32_t announced = r_u32(r);
  if (r->bad) return;
  /* the decoded value: bytes to copy (a byte, a CK_ULONG, a date, a byte array, or CK_ULONGs for mechanisms) */
  CK_BYTE byte = 0;
  CK_ULONG ulong = 0;
  const uint8_t *data = NULL;
  size_t dlen = 0;
  uint32_t mechs = 0;
  size_t mechs_at = 0;
  switch (kind_of(a->type)) {
    case K_BYTE:
      byte = r_byte(r);
      data = &byte;
      dlen = 1;
      break;
    case K_ULONG:
      ulong = r_ulong(r);
      data = (const uint8_t *)&ulong;
      dlen = sizeof ulong;
      break;
    case K_DATE:
      r_bytes(r, &data, &dlen);
      if (dlen != 0 && dlen != 8) r->bad = 1;
      break;
    case K_MECHANISMS:
      mechs = r_u32(r);
      if (r->bad || mechs > (r->n - r->pos) / 8) {
        r->bad = 1;
        return;
      }
      mechs_at = r->pos;
      r->pos += (size_t)mechs * 8;
      dlen = (size_t)mechs * sizeof(CK_MECHANISM_TYPE);
      break;
    case K_ATTRIBUTES:
      /* p11-kit's client refuses a template in an answer too ("recursive attribute array is not supported") */
      r->bad = 1;
      return;
    case K_BYTES:
    default:
      r_bytes(r, &data, &dlen);
      break;
  }
  if (r->bad) return;
  if (dlen > announced) {
    r->bad = 1;
    return;
  }
  if (!a->pValue) {
    a->ulValueLen = announced;
    return;
  }
  if (a->ulValueLen < announced) {
    a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
    *small = 1;
    return;
  }
  if (kind_of(a->type) == K_MECHANISMS) {
    rbuf m = {r->p, r->n, mechs_at, 0};
    for (uint32_t i = 0; i < mechs; i++) {
      CK_MECHANISM_TYPE t = r_ulong(&m);
      memcpy((CK_BYTE *)a->pValue + (size_t)i * sizeof t, &t, sizeof t);
    }
    if (m.bad) r->bad = 1;
  } else if (dlen)
    memcpy(a->pValue, data, dlen);
  a->ulValueLen = dlen;
}

static CK_RV fn_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
  call c;
  CK_RV rv = call_begin(&c, CALL_GetAttributeValue);
  if (rv != CKR_OK) return rv;
  if ((ulCount && !pTemplate) || ulCount > 0xffffffffUL) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, hSession);
  w_u64(&c.w, hObject);
  /* 'fA': uint32 count, then each type and the size of the caller's buffer (0: the length alone) */
  w_u32(&c.w, (uint32_t)ulCount);
  for (CK_ULONG i = 0; i < ulCount; i++) {
    if (pTemplate[i].type > 0xffffffffUL) return call_end(&c, CKR_ATTRIBUTE_TYPE_INVALID);
    w_u32(&c.w, (uint32_t)pTemplate[i].type);
    w_room(&c.w, pTemplate[i].pValue, pTemplate[i].ulValueLen);
  }
  rv = call_run(&c);
  if (rv == CKR_OK) {
    uint32_t n = r_u32(&c.r);
    if (n != ulCount) c.r.bad = 1;
    int small = 0;
    for (CK_ULONG i = 0; i < ulCount && !c.r.bad; i++) r_attribute(&c.r, &pTemplate[i], &small);
    /* the call's CK_RV is the server's: the first of SENSITIVE, TYPE_INVALID, BUFFER_TOO_SMALL (docs/pkcs11.md §5) */
    rv = r_ulong(&c.r);
    if (rv == CKR_OK && small) rv = CKR_BUFFER_TOO_SMALL;
  }
  return call_end(&c, rv);
}

static CK_RV fn_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount) {
  call c;
  CK_RV rv = call_begin(&c, CALL_FindObjectsInit);
  if (rv != CKR_OK) return rv;
  w_u64(&c.w, hSession);
  rv = w_template(&c.w, pTemplate, ulCount, 0);
  if (rv != CKR_OK) return call_end(&c, rv);
  rv = call_run(&c);
  return call_end(&c, rv);
}

static CK_RV fn_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount) {
  call c;
  CK_RV rv = call_begin(&c, CALL_FindObjects);
  if (rv != CKR_OK) return rv;
  if (!phObject || !pulObjectCount) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, hSession);
  w_room(&c.w, phObject, ulMaxObjectCount);
  rv = call_run(&c);
  if (rv == CKR_OK) {
    CK_ULONG n = 0;
    rv = r_ulong_array(&c.r, phObject, &n, ulMaxObjectCount);
    /* the server returns at most what was asked for: anything else is a broken answer */
    if (rv != CKR_OK) c.r.bad = 1;
    *pulObjectCount = rv == CKR_OK ? n : 0;
  }
  return call_end(&c, rv);
}

static CK_RV fn_FindObjectsFinal(CK_SESSION_HANDLE hSession) { return simple_call(CALL_FindObjectsFinal, hSession); }

/* ------------------------------------------------------------------------------------------------ signing */

static CK_RV fn_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey) {
  call c;
  CK_RV rv = call_begin(&c, CALL_SignInit);
  if (rv != CKR_OK) return rv;
  w_u64(&c.w, hSession);
  rv = w_mechanism(&c.w, pMechanism);
  if (rv != CKR_OK) return call_end(&c, rv);
  w_u64(&c.w, hKey);
  rv = call_run(&c);
  return call_end(&c, rv);
}

/* Largest C_Sign data that fits one request: the body less call id, signature "uayfy", session, 'ay' header and 'fy'. */
#define MAX_SIGN_DATA (MAX_BODY - (4 + 4 + 5 + 8 + 1 + 4 + 4))

static CK_RV fn_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
  call c;
  CK_RV rv = call_begin(&c, CALL_Sign);
  if (rv != CKR_OK) return rv;
  if (!pulSignatureLen) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, hSession);
  int too_long = pData && ulDataLen > MAX_SIGN_DATA;
  /*
   * Data over one request's room: C_Sign is sent without data, which the server refuses (CKR_ARGUMENTS_BAD) and so
   * ends its operation as PKCS#11 wants of a failed C_Sign; the caller gets CKR_DATA_LEN_RANGE (docs/pkcs11.md §8.4).
   * No data and length 0 is the empty message.
   */
  w_array(&c.w, too_long ? NULL : pData || ulDataLen ? (const void *)pData : "", ulDataLen);
  w_room(&c.w, pSignature, *pulSignatureLen);
  rv = call_run(&c);
  if (rv == CKR_OK) rv = r_out_array(&c.r, pSignature, pulSignatureLen);
  rv = call_end(&c, rv);
  if (too_long && rv == CKR_ARGUMENTS_BAD) rv = CKR_DATA_LEN_RANGE;
  return rv;
}

static CK_RV fn_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen) {
  /* a part over UPDATE_CHUNK goes as several C_SignUpdate calls: the server joins the parts in order either way */
  CK_ULONG off = 0;
  do {
    CK_ULONG n = ulPartLen - off > UPDATE_CHUNK ? UPDATE_CHUNK : ulPartLen - off;
    call c;
    CK_RV rv = call_begin(&c, CALL_SignUpdate);
    if (rv != CKR_OK) return rv;
    w_u64(&c.w, hSession);
    w_array(&c.w, pPart ? (const void *)(pPart + off) : n ? NULL : "", n);
    rv = call_run(&c);
    rv = call_end(&c, rv);
    if (rv != CKR_OK) return rv;
    off += n;
  } while (pPart && off < ulPartLen);
  return CKR_OK;
}

static CK_RV fn_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen) {
  call c;
  CK_RV rv = call_begin(&c, CALL_SignFinal);
  if (rv != CKR_OK) return rv;
  if (!pulSignatureLen) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, hSession);
  w_room(&c.w, pSignature, *pulSignatureLen);
  rv = call_run(&c);
  if (rv == CKR_OK) rv = r_out_array(&c.r, pSignature, pulSignatureLen);
  return call_end(&c, rv);
}

/* ------------------------------------------------------------------------------------------------ key pairs */

static CK_RV fn_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                                CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount, CK_OBJECT_HANDLE_PTR phPublicKey,
                                CK_OBJECT_HANDLE_PTR phPrivateKey) {
  call c;
  CK_RV rv = call_begin(&c, CALL_GenerateKeyPair);
  if (rv != CKR_OK) return rv;
  if (!phPublicKey || !phPrivateKey) return call_end(&c, CKR_ARGUMENTS_BAD);
  w_u64(&c.w, hSession);
  rv = w_mechanism(&c.w, pMechanism);
  if (rv == CKR_OK) rv = w_template(&c.w, pPublicKeyTemplate, ulPublicKeyAttributeCount, 0);
  if (rv == CKR_OK) rv = w_template(&c.w, pPrivateKeyTemplate, ulPrivateKeyAttributeCount, 0);
  if (rv != CKR_OK) return call_end(&c, rv);
  rv = call_run(&c);
  if (rv == CKR_OK) {
    CK_OBJECT_HANDLE pub = r_ulong(&c.r), priv = r_ulong(&c.r);
    if (!c.r.bad) {
      *phPublicKey = pub;
      *phPrivateKey = priv;
    }
  }
  return call_end(&c, rv);
}

/* ------------------------------------------------------------------------------------------------ what the server does not offer */

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define NOT_SUPPORTED(name, params) \
  static CK_RV name params { return CKR_FUNCTION_NOT_SUPPORTED; }

NOT_SUPPORTED(ns_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d))
NOT_SUPPORTED(ns_InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c))
NOT_SUPPORTED(ns_SetPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d, CK_ULONG e))
NOT_SUPPORTED(ns_GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
NOT_SUPPORTED(ns_SetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e))
NOT_SUPPORTED(ns_CreateObject, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d))
NOT_SUPPORTED(ns_CopyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e))
NOT_SUPPORTED(ns_GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ULONG_PTR c))
NOT_SUPPORTED(ns_SetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d))
NOT_SUPPORTED(ns_CryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
NOT_SUPPORTED(ns_Crypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(ns_CryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
NOT_SUPPORTED(ns_DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b))
NOT_SUPPORTED(ns_Update, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
NOT_SUPPORTED(ns_DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b))
NOT_SUPPORTED(ns_Verify, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e))
NOT_SUPPORTED(ns_GenerateKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e))
NOT_SUPPORTED(ns_WrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f))
NOT_SUPPORTED(ns_UnwrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f, CK_ULONG x,
                             CK_OBJECT_HANDLE_PTR h))
NOT_SUPPORTED(ns_DeriveKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f))
NOT_SUPPORTED(ns_Random, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
NOT_SUPPORTED(ns_WaitForSlotEvent, (CK_FLAGS a, CK_SLOT_ID_PTR b, CK_VOID_PTR c))

/* The legacy functions answer what v2.40 says they must, CKR_FUNCTION_NOT_PARALLEL. */
static CK_RV legacy_parallel(CK_SESSION_HANDLE hSession) { return CKR_FUNCTION_NOT_PARALLEL; }
#pragma GCC diagnostic pop

/* C_VerifyFinal has C_VerifyUpdate's shape but a signature argument; the same stub serves both. */
static CK_FUNCTION_LIST function_list = {
    .version = {2, 40},
    .C_Initialize = fn_Initialize,
    .C_Finalize = fn_Finalize,
    .C_GetInfo = fn_GetInfo,
    .C_GetFunctionList = C_GetFunctionList,
    .C_GetSlotList = fn_GetSlotList,
    .C_GetSlotInfo = fn_GetSlotInfo,
    .C_GetTokenInfo = fn_GetTokenInfo,
    .C_GetMechanismList = fn_GetMechanismList,
    .C_GetMechanismInfo = fn_GetMechanismInfo,
    .C_InitToken = ns_InitToken,
    .C_InitPIN = ns_InitPIN,
    .C_SetPIN = ns_SetPIN,
    .C_OpenSession = fn_OpenSession,
    .C_CloseSession = fn_CloseSession,
    .C_CloseAllSessions = fn_CloseAllSessions,
    .C_GetSessionInfo = fn_GetSessionInfo,
    .C_GetOperationState = ns_GetOperationState,
    .C_SetOperationState = ns_SetOperationState,
    .C_Login = fn_Login,
    .C_Logout = fn_Logout,
    .C_CreateObject = ns_CreateObject,
    .C_CopyObject = ns_CopyObject,
    .C_DestroyObject = fn_DestroyObject,
    .C_GetObjectSize = ns_GetObjectSize,
    .C_GetAttributeValue = fn_GetAttributeValue,
    .C_SetAttributeValue = ns_SetAttributeValue,
    .C_FindObjectsInit = fn_FindObjectsInit,
    .C_FindObjects = fn_FindObjects,
    .C_FindObjectsFinal = fn_FindObjectsFinal,
    .C_EncryptInit = ns_CryptInit,
    .C_Encrypt = ns_Crypt,
    .C_EncryptUpdate = ns_Crypt,
    .C_EncryptFinal = ns_CryptFinal,
    .C_DecryptInit = ns_CryptInit,
    .C_Decrypt = ns_Crypt,
    .C_DecryptUpdate = ns_Crypt,
    .C_DecryptFinal = ns_CryptFinal,
    .C_DigestInit = ns_DigestInit,
    .C_Digest = ns_Crypt,
    .C_DigestUpdate = ns_Update,
    .C_DigestKey = ns_DigestKey,
    .C_DigestFinal = ns_CryptFinal,
    .C_SignInit = fn_SignInit,
    .C_Sign = fn_Sign,
    .C_SignUpdate = fn_SignUpdate,
    .C_SignFinal = fn_SignFinal,
    .C_SignRecoverInit = ns_CryptInit,
    .C_SignRecover = ns_Crypt,
    .C_VerifyInit = ns_CryptInit,
    .C_Verify = ns_Verify,
    .C_VerifyUpdate = ns_Update,
    .C_VerifyFinal = ns_Update,
    .C_VerifyRecoverInit = ns_CryptInit,
    .C_VerifyRecover = ns_Crypt,
    .C_DigestEncryptUpdate = ns_Crypt,
    .C_DecryptDigestUpdate = ns_Crypt,
    .C_SignEncryptUpdate = ns_Crypt,
    .C_DecryptVerifyUpdate = ns_Crypt,
    .C_GenerateKey = ns_GenerateKey,
    .C_GenerateKeyPair = fn_GenerateKeyPair,
    .C_WrapKey = ns_WrapKey,
    .C_UnwrapKey = ns_UnwrapKey,
    .C_DeriveKey = ns_DeriveKey,
    .C_SeedRandom = ns_Random,
    .C_GenerateRandom = ns_Random,
    .C_GetFunctionStatus = legacy_parallel,
    .C_CancelFunction = legacy_parallel,
    .C_WaitForSlotEvent = ns_WaitForSlotEvent,
};
