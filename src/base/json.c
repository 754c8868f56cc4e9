/* json: typed cJSON getters (see json.h). */
#include "base/json.h"

#include <math.h>

bool json_get_int(const cJSON *obj, const char *key, int64_t *out) {
    const cJSON *v = json_get(obj, key);
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9.0e15) return false;
    *out = (int64_t)d;
    return true;
}

bool json_get_double(const cJSON *obj, const char *key, double *out) {
    const cJSON *v = json_get(obj, key);
    if (!cJSON_IsNumber(v)) return false;
    *out = v->valuedouble;
    return true;
}

bool json_get_bool(const cJSON *obj, const char *key, bool *out) {
    const cJSON *v = json_get(obj, key);
    if (!cJSON_IsBool(v)) return false;
    *out = cJSON_IsTrue(v);
    return true;
}

const char *json_get_string(const cJSON *obj, const char *key) {
    const cJSON *v = json_get(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}
