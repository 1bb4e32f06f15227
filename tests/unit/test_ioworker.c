/* Unit tests of the ioworker's pure parts: iops consistency, error names and
 * the refusals of pn_ioworker_create() that need no device. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "ioworker.h"

static double consistency(const uint32_t *counts, uint32_t n, uint64_t ms)
{
	struct pn_ioworker_result r;

	memset(&r, 0, sizeof(r));
	r.io_per_second = (uint32_t *)counts;
	r.nseconds = n;
	r.mseconds = ms;
	return pn_ioworker_iops_consistency(&r);
}

static void iops_consistency_even_and_uneven(void **state)
{
	const uint32_t even[] = {500, 1000, 1000, 1000, 1000};
	const uint32_t dip[] = {500, 1000, 500, 1000, 1000};
	const uint32_t partial[] = {1000, 1000, 1000, 1000, 10};

	(void)state;
	/* the first (ramp-up) second is left out */
	assert_true(consistency(even, 5, 5000) > 0.999);
	/* min 500 / mean 875 */
	assert_true(consistency(dip, 5, 5000) > 0.571 && consistency(dip, 5, 5000) < 0.572);
	/* a partial last second (run of 4.01 s) is left out too */
	assert_true(consistency(partial, 5, 4010) > 0.999);
	/* fewer than two full seconds after the first: no figure */
	assert_true(consistency(even, 2, 2000) == 0.0);
}

static void error_names(void **state)
{
	(void)state;
	assert_string_equal(pn_ioworker_error_name(0), "no error");
	assert_string_equal(pn_ioworker_error_name(PN_IOW_ERR_MDTS), "io_size larger than MDTS");
	assert_string_equal(pn_ioworker_error_name(PN_IOW_ERR_TERMINATED), "terminated");
	assert_string_equal(pn_ioworker_error_name(-99), "unknown error");
}

static void create_refusals(void **state)
{
	struct pn_ioworker_config cfg;
	struct pn_ioworker *w = (struct pn_ioworker *)&cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(pn_ioworker_create(&cfg, &w), -EINVAL);
	assert_null(w);
	assert_non_null(strstr(pn_last_error(), "controller"));
	cfg.ctrl = (struct pn_ctrl *)&cfg;   /* not used before validation passes */
	cfg.cmdlog_count = 1000;
	assert_int_equal(pn_ioworker_create(&cfg, &w), -EINVAL);
	assert_non_null(strstr(pn_last_error(), "output_cmdlog_list"));
	cfg.cmdlog_count = 0;
	cfg.wl.ns_capacity = 1000;
	cfg.wl.lba_size = 512;
	cfg.wl.qdepth = 1;
	cfg.wl.io_count = 10;
	cfg.wl.size_min = 1;
	cfg.wl.nops = 1;
	cfg.wl.ops[0].opcode = 2;
	cfg.wl.ops[0].percentage = 100;
	assert_int_equal(pn_ioworker_create(&cfg, &w), -EINVAL);
	assert_non_null(strstr(pn_last_error(), "qdepth"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(iops_consistency_even_and_uneven),
		cmocka_unit_test(error_names),
		cmocka_unit_test(create_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
