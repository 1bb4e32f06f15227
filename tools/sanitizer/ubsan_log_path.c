/* Linked into the extension, the unit tests and the tools of the sanitizer
 * build only (make SANITIZE=1).
 *
 * GCC's UBSan runtime (libubsan), loaded beside ASan, starts as ASan's plugin
 * and then ignores log_path in UBSAN_OPTIONS: its reports go to stderr, which
 * pytest captures per test, so a report that ends the interpreter would vanish
 * with the captured text, and tools/sanitize-run could not find it in its log
 * directory. At load time this hands UBSAN_OPTIONS' log_path to libubsan's own
 * copy of the sanitizer runtime. (A plain call of __sanitizer_set_report_path
 * would reach libasan's copy, which already has ASAN_OPTIONS' log_path.) */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

static void ubsan_log_path(void) __attribute__((constructor));

static void ubsan_log_path(void)
{
	static char path[4096];
	const char *opts = getenv("UBSAN_OPTIONS");
	const char *value = NULL;
	void (*set_report_path)(const char *);
	void *ubsan;
	size_t len;

	if (!opts)
		return;
	/* The last log_path= wins, as it does for the runtime's own parser. */
	for (const char *at = strstr(opts, "log_path="); at; at = strstr(at + 1, "log_path="))
		if (at == opts || strchr(": \t\n,", at[-1]))
			value = at + strlen("log_path=");
	if (!value)
		return;
	len = strcspn(value, ": \t\n,");
	if (!len || len >= sizeof(path))
		return;
	memcpy(path, value, len);
	path[len] = '\0';
	ubsan = dlopen("libubsan.so.1", RTLD_NOW | RTLD_NOLOAD);
	if (!ubsan)
		return;
	set_report_path = (void (*)(const char *))dlsym(ubsan, "__sanitizer_set_report_path");
	if (set_report_path)
		set_report_path(path);
	dlclose(ubsan);
}
