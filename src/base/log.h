/* log: leveled logging to stderr. The level is process-wide configuration set
 * once at start-up (log_set_level) before threads start; reads are racy-safe
 * (plain int). Messages carry the function name of the failure site. */
#ifndef SGLC_BASE_LOG_H
#define SGLC_BASE_LOG_H

enum log_level { LOG_LEVEL_DEBUG = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_WARN = 2, LOG_LEVEL_ERROR = 3, LOG_LEVEL_OFF = 4 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "debug|info|warning|warn|error|critical|off"; returns -1 if unknown. */
int log_parse_level(const char *s);
void log_write(enum log_level level, const char *func, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define LOG_DEBUG(...) log_write(LOG_LEVEL_DEBUG, __func__, __VA_ARGS__)
#define LOG_INFO(...) log_write(LOG_LEVEL_INFO, __func__, __VA_ARGS__)
#define LOG_WARN(...) log_write(LOG_LEVEL_WARN, __func__, __VA_ARGS__)
#define LOG_ERROR(...) log_write(LOG_LEVEL_ERROR, __func__, __VA_ARGS__)

#endif
