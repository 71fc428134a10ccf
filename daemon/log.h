/*
 * log.h: rosterd's own operational log, on stderr.
 *
 * What goes here: start, stop, state changes, refused configuration, I/O
 * failures, peers by uid/pid. What never goes here: any client field value,
 * any passphrase, token or key, any message payload. The audit trail, not
 * this log, is the record of who accessed what.
 */
#pragma once

#include <stdarg.h>

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)
