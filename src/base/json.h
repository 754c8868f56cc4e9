/* json: the one place that includes cJSON (the parsing dependency), plus small
 * typed getters used by the config and tokenizer loaders. Writers for hot paths
 * (per-token SSE) are hand-rolled elsewhere. */
#ifndef SGLC_BASE_JSON_H
#define SGLC_BASE_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

/* Returns the member `key` of object `obj` (NULL if obj is not an object or has no such key). */
static inline const cJSON *json_get(const cJSON *obj, const char *key) {
    return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}
/* Numeric getters: return false (and leave *out) when absent, null or not a number. */
bool json_get_int(const cJSON *obj, const char *key, int64_t *out);
bool json_get_double(const cJSON *obj, const char *key, double *out);
bool json_get_bool(const cJSON *obj, const char *key, bool *out);
/* Returns the string value or NULL. Borrowed from obj. */
const char *json_get_string(const cJSON *obj, const char *key);

#endif
