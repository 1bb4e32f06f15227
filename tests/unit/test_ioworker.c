/* Unit tests of the ioworker's pure parts: iops consistency, error names and
 * the refusals of pn_ioworker_create() that need no device. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "ioworker.h"

static double consistency(const uint32_t *counts, uint32_t n, uint64_t ms, double pct)
{
	struct pn_ioworker_result r;

	memset(&r, 0, sizeof(r));
	r.io_per_second = (uint32_t *)counts;
	r.nseconds = n;
	r.mseconds = ms;
	return pn_ioworker_iops_consistency(&r, pct);
}

static bool near(double a, double b)
{
	return a > b - 1e-9 && a < b + 1e-9;
}

/* The original's definition: the second at the slowest percentage (99.9 by
 * default: the slowest of up to 1000 seconds) over the mean, full seconds
 * only, the first one included. */
static void iops_consistency_even_and_uneven(void **state)
{
	const uint32_t even[] = {1000, 1000, 1000, 1000, 1000};
	const uint32_t rampup[] = {500, 1000, 1000, 1000, 1000};
	const uint32_t dip[] = {500, 1000, 500, 1000, 1000};
	const uint32_t partial[] = {1000, 1000, 1000, 1000, 10};
	uint32_t many[2000];

	(void)state;
	assert_true(near(consistency(even, 5, 5000, 99.9), 1.0));
	assert_true(near(consistency(rampup, 5, 5000, 99.9), 500.0 / 900));
	assert_true(near(consistency(dip, 5, 5000, 99.9), 500.0 / 800));
	/* 50%: the third fastest of five */
	assert_true(near(consistency(dip, 5, 5000, 50), 1000.0 / 800));
	/* a partial last second (run of 4.01 s) is left out */
	assert_true(near(consistency(partial, 5, 4010, 99.9), 1.0));
	/* two seconds are enough; none gives 0 */
	assert_true(near(consistency(rampup, 2, 2000, 99.9), 500.0 / 750));
	assert_true(consistency(rampup, 2, 900, 99.9) == 0.0);
	/* 2000 seconds at 99.9%: index 1998, the second slowest */
	for (int i = 0; i < 2000; i++)
		many[i] = 1000;
	many[7] = 100;
	many[1500] = 200;
	assert_true(near(consistency(many, 2000, 2000000, 99.9), 200.0 / (1998300.0 / 2000)));
}

static void cmdlist_order(void **state)
{
	struct pn_ioworker_cmd c[5];

	(void)state;
	/* 3 of 5: zero entries first, then oldest to newest */
	memset(c, 0, sizeof(c));
	for (int i = 0; i < 3; i++)
		c[i] = (struct pn_ioworker_cmd){ 100 + i, 8, 2 };
	pn_ioworker_order_cmdlist(c, 5, 3);
	assert_int_equal(c[0].lba, 0);
	assert_int_equal(c[1].count, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(c[2 + i].lba, 100 + i);
	/* 12 written into 5: the ring holds 7..11, slot i = completion i % 5 */
	for (int i = 0; i < 12; i++)
		c[i % 5] = (struct pn_ioworker_cmd){ 100 + i, 1, 1 };
	pn_ioworker_order_cmdlist(c, 5, 12);
	for (int i = 0; i < 5; i++)
		assert_int_equal(c[i].lba, 107 + i);
	/* exactly full */
	for (int i = 0; i < 10; i++)
		c[i % 5] = (struct pn_ioworker_cmd){ 100 + i, 1, 1 };
	pn_ioworker_order_cmdlist(c, 5, 10);
	for (int i = 0; i < 5; i++)
		assert_int_equal(c[i].lba, 105 + i);
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
	cfg.cmdlist_count = PN_IOW_CMDLIST_MAX + 1;
	assert_int_equal(pn_ioworker_create(&cfg, &w), -EINVAL);
	assert_non_null(strstr(pn_last_error(), "output_cmdlog_list"));
	cfg.cmdlist_count = 0;
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
		cmocka_unit_test(cmdlist_order),
		cmocka_unit_test(error_names),
		cmocka_unit_test(create_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
