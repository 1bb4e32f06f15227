/* Error reporting of the C core.
 *
 * Every fallible function returns 0 (or a non-negative value) on success and
 * a negative errno on failure; it never aborts the process. Alongside the
 * errno it leaves a human-readable reason in a thread-local buffer, so the
 * Python binding can raise an exception that says *what* went wrong (which
 * device, which argument, which system call).
 */
#ifndef PYNVME_ERROR_H
#define PYNVME_ERROR_H

/* Records the reason for the failure that is about to be returned and
 * returns -errnum, so callers can write `return pn_fail(EINVAL, "...")`.
 * errnum: a positive errno value. fmt: printf-style reason. */
int pn_fail(int errnum, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The reason recorded by the last pn_fail() on this thread ("" if none). */
const char *pn_last_error(void);

/* Clears the recorded reason. */
void pn_clear_error(void);

#endif
