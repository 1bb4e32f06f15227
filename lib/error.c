#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

int pn_fail(int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -errnum;
}

const char *pn_last_error(void)
{
	return last_error;
}

void pn_clear_error(void)
{
	last_error[0] = '\0';
}
