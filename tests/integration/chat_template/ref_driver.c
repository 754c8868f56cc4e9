/* chat_template_ref: batch renderer for the chat-template reference test.
 *
 *   chat_template_ref CASES.json OUT.json
 *
 * CASES.json: {"templates": {name: source}, "cases": [{"template": name,
 * "context_json": text, "epoch": seconds}]}. Each case is rendered twice, once
 * from the context as JSON text (chat_template_render_json, exact typing) and
 * once through cJSON (chat_template_render, what a server holding a parsed
 * request uses). OUT.json gets one object per case: {"text": ...} or
 * {"error": ...}, and the same under "cjson_text" / "cjson_error".
 * Templates are compiled once each. Exit status 0 unless the input is bad. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "tokenizer/chat_template.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: chat_template_ref CASES.json OUT.json\n");
        return 2;
    }
    char *text = slurp(argv[1]);
    cJSON *in = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *templates = json_get(in, "templates"), *cases = json_get(in, "cases");
    if (!cJSON_IsObject(templates) || !cJSON_IsArray(cases)) {
        fprintf(stderr, "chat_template_ref: bad input %s\n", argv[1]);
        return 2;
    }
    int n_tpl = cJSON_GetArraySize(templates);
    struct chat_template **compiled = calloc((size_t)n_tpl + 1, sizeof *compiled);
    char **errors = calloc((size_t)n_tpl + 1, sizeof *errors);
    const char **names = calloc((size_t)n_tpl + 1, sizeof *names);
    int k = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, templates) {
        names[k] = t->string;
        struct sgl_err e;
        if (chat_template_compile(t->valuestring, strlen(t->valuestring), &compiled[k], &e)) errors[k] = strdup(e.msg);
        k++;
    }
    cJSON *out = cJSON_CreateArray();
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cases) {
        const char *name = json_get_string(cs, "template");
        const char *ctx = json_get_string(cs, "context_json");
        double epoch = 0;
        json_get_double(cs, "epoch", &epoch);
        int idx = -1;
        for (int i = 0; i < n_tpl; i++)
            if (name && !strcmp(names[i], name)) idx = i;
        cJSON *r = cJSON_CreateObject();
        if (idx < 0 || !ctx) {
            cJSON_AddStringToObject(r, "error", "unknown template");
            cJSON_AddStringToObject(r, "cjson_error", "unknown template");
        } else if (!compiled[idx]) {
            cJSON_AddStringToObject(r, "error", errors[idx]);
            cJSON_AddStringToObject(r, "cjson_error", errors[idx]);
        } else {
            struct chat_template_options o = {0};
            o.now_epoch_set = 1;
            o.now_epoch = (int64_t)epoch;
            char *res = NULL;
            size_t len;
            struct sgl_err e;
            if (chat_template_render_json(compiled[idx], ctx, strlen(ctx), &o, &res, &len, &e))
                cJSON_AddStringToObject(r, "error", e.msg);
            else cJSON_AddStringToObject(r, "text", res);
            free(res);
            res = NULL;
            cJSON *cj = cJSON_Parse(ctx);
            if (chat_template_render_opts(compiled[idx], cj, &o, &res, &len, &e))
                cJSON_AddStringToObject(r, "cjson_error", e.msg);
            else cJSON_AddStringToObject(r, "cjson_text", res);
            free(res);
            cJSON_Delete(cj);
        }
        cJSON_AddItemToArray(out, r);
    }
    char *printed = cJSON_PrintUnformatted(out);
    FILE *f = fopen(argv[2], "wb");
    if (!f || !printed || fwrite(printed, 1, strlen(printed), f) != strlen(printed)) {
        fprintf(stderr, "chat_template_ref: cannot write %s\n", argv[2]);
        return 2;
    }
    fclose(f);
    free(printed);
    cJSON_Delete(out);
    cJSON_Delete(in);
    for (int i = 0; i < n_tpl; i++) {
        chat_template_destroy(compiled[i]);
        free(errors[i]);
    }
    free(compiled);
    free(errors);
    free(names);
    return 0;
}
