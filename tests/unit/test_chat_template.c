/* Unit tests for the chat-template interpreter (src/tokenizer/chat_template.h).
 *
 * - hf_unit_cases: the 157 huggingface.js Jinja cases, with the outputs Python
 *   Jinja2 (configured like transformers) produces for them
 *   (tests/data/chat-templates/hf-jinja-unit-cases.python.json, made by
 *   tests/integration/chat_template/make_unit_expectations.py); cases where
 *   Python raises must fail here too.
 * - targeted checks of Python semantics, the cJSON entry point, errors,
 *   limits (steps, recursion, output, memory, nesting) and concurrent renders.
 * The byte-for-byte comparison on the real templates is the "chat_template"
 * CTest suite (tests/chat_template.cmake). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "test.h"
#include "tokenizer/chat_template.h"

static char *read_file(const char *path, size_t *len) {
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
    if (buf) {
        buf[n] = 0;
        if (len) *len = (size_t)n;
    }
    return buf;
}

/* Renders src with a JSON-text context; returns malloc'd output or NULL (err set). */
static char *render_text(const char *src, const char *ctx, struct sgl_err *err) {
    struct chat_template *tpl;
    if (chat_template_compile(src, strlen(src), &tpl, err)) return NULL;
    char *out = NULL;
    size_t len;
    struct chat_template_options o = {0};
    o.now_epoch_set = 1;
    o.now_epoch = 1721952000;
    int rc = chat_template_render_json(tpl, ctx, strlen(ctx), &o, &out, &len, err);
    chat_template_destroy(tpl);
    return rc ? NULL : out;
}

#define CHECK_RENDER(src, ctx, want)                                                                                   \
    do {                                                                                                               \
        struct sgl_err e_ = {{0}};                                                                                     \
        char *o_ = render_text((src), (ctx), &e_);                                                                     \
        if (!o_) printf("  error: %s\n", e_.msg);                                                                      \
        CHECK_STR(o_, (want));                                                                                         \
        free(o_);                                                                                                      \
    } while (0)

#define CHECK_FAILS(src, ctx, needle)                                                                                  \
    do {                                                                                                               \
        struct sgl_err e_ = {{0}};                                                                                     \
        char *o_ = render_text((src), (ctx), &e_);                                                                     \
        if (o_) printf("  unexpected success: \"%s\"\n", o_);                                                         \
        CHECK(o_ == NULL);                                                                                             \
        if (!strstr(e_.msg, (needle))) printf("  message \"%s\" lacks \"%s\"\n", e_.msg, (needle));                   \
        CHECK(strstr(e_.msg, (needle)) != NULL);                                                                       \
        CHECK(strchr(e_.msg, '\n') == NULL);                                                                           \
        free(o_);                                                                                                      \
    } while (0)

TEST(hf_unit_cases) {
    char path[1024];
    snprintf(path, sizeof path, "%s/chat-templates/hf-jinja-unit-cases.python.json", SGLC_TEST_DATA_DIR);
    char *text = read_file(path, NULL);
    CHECK(text != NULL);
    if (!text) return;
    cJSON *cases = cJSON_Parse(text);
    free(text);
    CHECK(cJSON_IsArray(cases));
    int pass = 0, fail = 0, js_same = 0;
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cases) {
        const char *name = json_get_string(cs, "name");
        const char *tsrc = json_get_string(cs, "template");
        const char *ctx = json_get_string(cs, "context_json");
        const cJSON *py = json_get(cs, "python");
        const char *want = json_get_string(py, "ok");
        const char *want_err = json_get_string(py, "error");
        const char *js = json_get_string(cs, "expected_js");
        struct sgl_err e = {{0}};
        char *got = render_text(tsrc, ctx, &e);
        bool ok = want ? (got && strcmp(got, want) == 0) : (got == NULL && want_err);
        if (ok) pass++;
        else {
            fail++;
            printf("  case %s: want %s \"%s\", got %s \"%s\"\n", name, want ? "text" : "error", want ? want : want_err,
                   got ? "text" : "error", got ? got : e.msg);
        }
        if (got && js && strcmp(got, js) == 0) js_same++;
        free(got);
    }
    printf("  hf-jinja-unit-cases: %d passed, %d failed (%d also equal to the JS expectation)\n", pass, fail, js_same);
    CHECK_EQ_INT(fail, 0);
    CHECK_EQ_INT(pass, 157);
    cJSON_Delete(cases);
}

TEST(python_values) {
    CHECK_RENDER("{{ 1.0 }}|{{ 1e16 }}|{{ 1e-5 }}|{{ 0.1 + 0.2 }}|{{ 2**-1 }}|{{ -0.0 }}|{{ 1/3 }}", "{}",
                 "1.0|1e+16|1e-05|0.30000000000000004|0.5|-0.0|0.3333333333333333");
    CHECK_RENDER("{{ [none, true, 1.5, 'it\\'s', \"q\\\"\", '\\n\\x01\\u00e9\\u2028'] }}", "{}",
                 "[None, True, 1.5, \"it's\", 'q\"', '\\n\\x01\xc3\xa9\\u2028']");
    CHECK_RENDER("{{ (1,) }}{{ (1, 2) }}{{ {'a': (1, 'x')} }}{{ () }}", "{}", "(1,)(1, 2){'a': (1, 'x')}()");
    CHECK_RENDER("{{ x }}|{{ x.y }}", "{\"x\": {\"y\": 2.0, \"z\": [1, {\"k\": null}]}}",
                 "{'y': 2.0, 'z': [1, {'k': None}]}|2.0");
    CHECK_RENDER("{{ {'a':1}.items() }}|{{ {'a':1}.keys() }}|{{ range(3) }}|{{ namespace(a=1) }}", "{}",
                 "dict_items([('a', 1)])|dict_keys(['a'])|range(0, 3)|<Namespace {'a': 1}>");
    CHECK_RENDER("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 7.5 % 2 }} {{ -7.5 // 2 }} {{ 2 ** 10 }}",
                 "{}", "3 -4 2 -2 1.5 -4.0 1024");
    CHECK_RENDER("{{ true + 1 }} {{ true is number }} {{ 1 in [true] }} {{ {1: 'a', true: 'b', 1.0: 'c'} }}", "{}",
                 "2 True True {1: 'c'}");
    CHECK_RENDER("{{ 'ß'.upper() }} {{ 'ΑΣ'.lower() }} {{ 'hello wORLD-foo(bar' | title }} {{ 'ǆa' | capitalize }}",
                 "{}", "SS ας Hello World-Foo(Bar ǅa");
    CHECK_RENDER("{{ ('<'|e) + '<' }}|{{ '<' ~ ('<'|e) }}|{{ ('<'|safe) + '&' }}|{{ ['<'|safe] }}", "{}",
                 "&lt;&lt;|<&lt;|<&amp;|[Markup('<')]");
    CHECK_RENDER("{{ '%s-%d-%05.2f|%r' % ('a', 3, 2.5, 'x') }}|{{ '{} {:>5}|{x}'.format(1, 'a', x=2) }}", "{}",
                 "a-3-02.50|'x'|1     a|2");
}

TEST(scoping_and_loops) {
    CHECK_RENDER("{% set x = 5 %}{% for i in [1,2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}", "{}", "51525");
    CHECK_RENDER("{% for i in [1,2] %}{% if i == 2 %}{{ x }}{% endif %}{% set x = i %}{% endfor %}", "{}", "");
    CHECK_RENDER("{% set x = 5 %}{% macro m() %}{{ x }}{% endmacro %}{% set x = 6 %}{{ m() }}", "{}", "6");
    CHECK_RENDER("{% set x = 5 %}{% set y %}{{ x }}{% set x = 9 %}{{ x }}{% endset %}{{ y }}{{ x }}", "{}", "595");
    CHECK_RENDER("{% for x in [1,2,3] %}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.revindex }}|{% endfor %}", "{}",
                 "23|132|21|");
    CHECK_RENDER("{% for x in [1,2,3] recursive %}{{ x }}{% if x is number and x < 2 %}{{ loop([[5]]) }}{% endif %}"
                 "{% endfor %}",
                 "{}", "1[5]23");
    CHECK_RENDER("{% for x in [3,1,2,5] if x > 1 %}{{ loop.index }}/{{ loop.length }}{{ '.' if loop.last }} "
                 "{% else %}none{% endfor %}",
                 "{}", "1/3 2/3 3/3. ");
    CHECK_RENDER("{% macro f(a) %}{{ varargs }}{{ kwargs }}{% endmacro %}{{ f(1, 2, x=3) }}", "{}", "(2,){'x': 3}");
    CHECK_RENDER("{% set l = [1, 2, 3] %}{{ l.pop() }}{{ l }}{{ l.append }}", "{}", "3[1, 2]");
    CHECK_RENDER("{% for a, b in {'x': 1, 'y': 2}.items() %}{{ a }}={{ b }};{% endfor %}", "{}", "x=1;y=2;");
    CHECK_RENDER("{%- for m in messages %}\n  {%- if loop.first %}[{% endif %}{{ m }}\n{% endfor %}", "{\"messages\": [\"a\", \"b\"]}",
                 "[a\nb\n");
}

TEST(whitespace_control) {
    CHECK_RENDER("  {% if true %}\n    x\n  {% endif %}\ny", "{}", "    x\ny");
    CHECK_RENDER("a  {%+ if true %}b{% endif +%}\nc", "{}", "a  b\nc");
    CHECK_RENDER("{# c #}\nA {#- x -#} B\n", "{}", "AB");
    CHECK_RENDER("{% raw %}{{ x }}{% endraw %}|\r\n|", "{}", "{{ x }}|\n|");
    CHECK_RENDER("x\n\n", "{}", "x\n");
}

TEST(strftime_and_kwargs) {
    CHECK_RENDER("{{ strftime_now('%d %b %Y') }}", "{}", "26 Jul 2024");
    CHECK_RENDER("{% if enable_thinking is defined and enable_thinking is false %}off{% endif %}",
                 "{\"enable_thinking\": false}", "off");
}

TEST(errors) {
    CHECK_FAILS("{% if x %}", "{}", "line 1");
    CHECK_FAILS("{{ x | nosuchfilter }}", "{}", "No filter named 'nosuchfilter'");
    CHECK_FAILS("{{ x is nosuchtest }}", "{}", "No test named 'nosuchtest'");
    CHECK_FAILS("{% for x in y %}{% endif %}", "{}", "endif");
    CHECK_FAILS("{% break %}", "{}", "outside loop");
    CHECK_FAILS("{{ raise_exception('Only user and assistant roles are supported!') }}", "{}",
                "Only user and assistant roles are supported!");
    CHECK_FAILS("{{ raise_exception('two\nlines') }}", "{}", "two lines");
    CHECK_FAILS("{{ 'a' + 1 }}", "{}", "TypeError");
    CHECK_FAILS("{{ x.y }}", "{}", "'x' is undefined");
    CHECK_FAILS("{{ 1 / 0 }}", "{}", "ZeroDivisionError");
    CHECK_FAILS("{{ [1,2].append(3) }}", "{}", "SecurityError");
    CHECK_FAILS("{{ m|tojson }}", "{}", "not JSON serializable");
    CHECK_FAILS("{% for a, b in [[1, 2, 3]] %}{% endfor %}", "{}", "too many values to unpack");
    CHECK_FAILS("{{ 'x' }", "{}", "TemplateSyntaxError");
    CHECK_FAILS("{{ range(100001) | length }}", "{}", "Range too big");
    CHECK_FAILS("{{ 2 ** 64 }}", "{}", "OverflowError");
    CHECK_FAILS("{{ x }}", "[1, 2]", "context must be a JSON object");
    CHECK_FAILS("{{ x }}", "{\"x\": ", "context JSON");
    /* a bad template compiles to nothing and reports the line */
    struct chat_template *tpl = (struct chat_template *)1;
    struct sgl_err e = {{0}};
    CHECK(chat_template_compile("a\nb\n{% for %}", 14, &tpl, &e) == ERR_FORMAT);
    CHECK(tpl == NULL);
    CHECK(strstr(e.msg, "line 3") != NULL);
}

TEST(limits) {
    /* runaway loops: 1e10 iterations stop at the step limit */
    CHECK_FAILS("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "{}",
                "steps");
    /* unbounded recursion */
    CHECK_FAILS("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "{}", "recursion");
    /* output size */
    CHECK_FAILS("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}", "{}", "exceeds");
    /* memory: a quadratic string build */
    CHECK_FAILS("{% set ns = namespace(s='x' * 100000) %}{% for i in range(100000) %}{% set ns.s = ns.s ~ 'y' %}"
                "{% endfor %}",
                "{}", "memory");
    /* deep nesting in the source */
    char src[4096];
    size_t o = 0;
    o += (size_t)snprintf(src + o, sizeof src - o, "{{ ");
    for (int i = 0; i < 500; i++) src[o++] = '(';
    src[o++] = '1';
    for (int i = 0; i < 500; i++) src[o++] = ')';
    snprintf(src + o, sizeof src - o, " }}");
    CHECK_FAILS(src, "{}", "nested too deeply");
    /* deep data */
    char *ctx = malloc(20000);
    o = 0;
    o += (size_t)snprintf(ctx, 20000, "{\"x\": ");
    for (int i = 0; i < 5000; i++) ctx[o++] = '[';
    for (int i = 0; i < 5000; i++) ctx[o++] = ']';
    ctx[o++] = '}';
    ctx[o] = 0;
    CHECK_FAILS("{{ x }}", ctx, "nested too deeply");
    free(ctx);
    /* explicit small limits */
    struct chat_template *tpl;
    struct sgl_err e = {{0}};
    const char *s = "{% for i in range(10) %}{{ i }}{% endfor %}";
    CHECK(chat_template_compile(s, strlen(s), &tpl, &e) == 0);
    struct chat_template_options opts = {0};
    opts.max_steps = 5;
    char *out = NULL;
    CHECK(chat_template_render_json(tpl, "{}", 2, &opts, &out, NULL, &e) == ERR_INVALID);
    opts.max_steps = 0;
    opts.max_output_bytes = 5;
    CHECK(chat_template_render_json(tpl, "{}", 2, &opts, &out, NULL, &e) == ERR_INVALID);
    opts.max_output_bytes = 10;
    size_t len = 0;
    CHECK(chat_template_render_json(tpl, "{}", 2, &opts, &out, &len, &e) == 0);
    CHECK_STR(out, "0123456789");
    CHECK_EQ_INT(len, 10);
    free(out);
    chat_template_destroy(tpl);
}

TEST(cjson_api) {
    const char *s = "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }}|{{ m.n }}|{% endfor %}"
                    "{{ add_generation_prompt }}";
    struct chat_template *tpl;
    struct sgl_err e = {{0}};
    CHECK(chat_template_compile(s, strlen(s), &tpl, &e) == 0);
    cJSON *ctx = cJSON_Parse("{\"bos_token\": \"<s>\", \"add_generation_prompt\": true, "
                             "\"messages\": [{\"role\": \"user\", \"content\": \"hi\", \"n\": 2}, "
                             "{\"role\": \"assistant\", \"content\": \"yo\", \"n\": 2.5}]}");
    char *out = NULL;
    size_t len = 0;
    CHECK(chat_template_render(tpl, ctx, &out, &len, &e) == 0);
    CHECK_STR(out, "<s>user:hi|2|assistant:yo|2.5|True");
    CHECK_EQ_INT(len, strlen("<s>user:hi|2|assistant:yo|2.5|True"));
    free(out);
    /* NULL context: no variables */
    CHECK(chat_template_render(tpl, NULL, &out, &len, &e) == 0);
    CHECK_STR(out, "");
    free(out);
    cJSON_Delete(ctx);
    chat_template_destroy(tpl);
    chat_template_destroy(NULL);
}

struct thread_arg {
    const struct chat_template *tpl;
    const char *ctx;
    char *out;
};

static void *render_thread(void *p) {
    struct thread_arg *a = p;
    for (int k = 0; k < 50; k++) {
        free(a->out);
        a->out = NULL;
        struct sgl_err e;
        if (chat_template_render_json(a->tpl, a->ctx, strlen(a->ctx), NULL, &a->out, NULL, &e)) return NULL;
    }
    return NULL;
}

TEST(concurrent_renders) {
    char path[1024];
    snprintf(path, sizeof path, "%s/chat-templates/qwen3.jinja", SGLC_TEST_DATA_DIR);
    size_t len;
    char *src = read_file(path, &len);
    CHECK(src != NULL);
    if (!src) return;
    struct chat_template *tpl;
    struct sgl_err e = {{0}};
    CHECK(chat_template_compile(src, len, &tpl, &e) == 0);
    free(src);
    const char *ctxs[4] = {
        "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], \"add_generation_prompt\": true}",
        "{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"b\"}]}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"c\"}, {\"role\": \"assistant\", \"content\": "
        "\"<think>r</think>x\"}], \"enable_thinking\": false, \"add_generation_prompt\": true}",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"d\"}], \"tools\": [{\"type\": \"function\", "
        "\"function\": {\"name\": \"f\"}}]}",
    };
    char *want[4];
    for (int i = 0; i < 4; i++) {
        want[i] = NULL;
        CHECK(chat_template_render_json(tpl, ctxs[i], strlen(ctxs[i]), NULL, &want[i], NULL, &e) == 0);
    }
    pthread_t th[4];
    struct thread_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (struct thread_arg){tpl, ctxs[i], NULL};
        pthread_create(&th[i], NULL, render_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_STR(args[i].out, want[i]);
        free(args[i].out);
        free(want[i]);
    }
    chat_template_destroy(tpl);
}

int main(void) {
    RUN(hf_unit_cases);
    RUN(python_values);
    RUN(scoping_and_loops);
    RUN(whitespace_control);
    RUN(strftime_and_kwargs);
    RUN(errors);
    RUN(limits);
    RUN(cjson_api);
    RUN(concurrent_renders);
    return test_summary();
}
