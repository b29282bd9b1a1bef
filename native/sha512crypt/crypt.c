/*
 * crypt(password, setting) -> Promise<string>, over the C library's crypt_r, run on libuv's
 * thread pool so several hashes use several cores. The clear password is wiped once hashed.
 */
#include <node_api.h>
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *key;
  size_t keylen;
  char *setting;
  char out[CRYPT_OUTPUT_SIZE];
  int ok;
} job_t;

static void execute(napi_env env, void *data) {
  job_t *j = data;
  struct crypt_data *cd = calloc(1, sizeof(struct crypt_data));
  if (!cd) return;
  char *r = crypt_r(j->key, j->setting, cd);
  if (r && r[0] != '*') {
    strncpy(j->out, r, sizeof(j->out) - 1);
    j->ok = 1;
  }
  free(cd);
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value v;
  if (j->ok) {
    napi_create_string_utf8(env, j->out, NAPI_AUTO_LENGTH, &v);
    napi_resolve_deferred(env, j->deferred, v);
  } else {
    napi_value msg;
    napi_create_string_utf8(env, "crypt_r refused the setting", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &v);
    napi_reject_deferred(env, j->deferred, v);
  }
  napi_delete_async_work(env, j->work);
  memset(j->key, 0, j->keylen);
  free(j->key);
  free(j->setting);
  free(j);
}

static char *get_string(napi_env env, napi_value v, size_t *outlen) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (!s) return NULL;
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (outlen) *outlen = len;
  return s;
}

static napi_value crypt_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "crypt(password, setting) needs two strings");
    return NULL;
  }
  job_t *j = calloc(1, sizeof(job_t));
  j->key = get_string(env, argv[0], &j->keylen);
  j->setting = get_string(env, argv[1], NULL);
  if (!j->key || !j->setting) {
    free(j->key); free(j->setting); free(j);
    napi_throw_type_error(env, NULL, "crypt(password, setting) needs two strings");
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "sha512crypt", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "crypt", NAPI_AUTO_LENGTH, crypt_async, NULL, &fn);
  napi_set_named_property(env, exports, "crypt", fn);
  return exports;
}
