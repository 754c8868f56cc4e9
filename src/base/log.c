/* log: stderr logger (see log.h). The level is the one piece of process-wide
 * configuration; it is written once at start-up, before any thread starts. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level g_level = LOG_LEVEL_WARN;

void log_set_level(enum log_level level) { g_level = level; }
enum log_level log_get_level(void) { return g_level; }

int log_parse_level(const char *s) {
    static const struct { const char *name; int level; } names[] = {
        {"debug", LOG_LEVEL_DEBUG}, {"info", LOG_LEVEL_INFO},   {"warning", LOG_LEVEL_WARN},
        {"warn", LOG_LEVEL_WARN},   {"error", LOG_LEVEL_ERROR}, {"critical", LOG_LEVEL_ERROR},
        {"off", LOG_LEVEL_OFF},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) return names[i].level;
    return -1;
}

void log_write(enum log_level level, const char *func, const char *fmt, ...) {
    if (level < g_level) return;
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "[%04d-%02d-%02d %02d:%02d:%02d %s %s] %s\n", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
            tm.tm_hour, tm.tm_min, tm.tm_sec, tags[level], func, msg);
}
