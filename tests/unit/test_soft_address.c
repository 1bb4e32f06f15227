/* The software controller's address: one canonical name per device, and a
 * clear refusal of every bad option (lib/soft_address.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <errno.h>
#include <cmocka.h>

#include "error.h"
#include "soft_address.h"
#include "transport_soft.h"

static void canonical_is(const char *addr, const char *want)
{
	char out[64];

	assert_int_equal(pn_transport_soft_canonical(addr, out), 0);
	assert_string_equal(out, want);
}

static void refused(const char *addr, const char *reason_part)
{
	char out[64];

	assert_int_equal(pn_transport_soft_canonical(addr, out), -EINVAL);
	assert_non_null(strstr(pn_last_error(), reason_part));
}

static void recognises_soft_addresses(void **state)
{
	assert_true(pn_transport_soft_addr("soft"));
	assert_true(pn_transport_soft_addr("soft:null"));
	assert_false(pn_transport_soft_addr("softer"));
	assert_false(pn_transport_soft_addr("01:00.0"));
}

static void one_name_per_device(void **state)
{
	canonical_is("soft", "soft");
	canonical_is("soft:", "soft");
	/* defaults are left out, options come in one order, sizes in units */
	canonical_is("soft:size=1G,lba=512", "soft");
	canonical_is("soft:mdts=7,size=524288K,ns=2", "soft:size=512M,ns=2,mdts=7");
	canonical_is("soft:spin,cpu=1,null", "soft:null,cpu=1,spin");
	canonical_is("soft:noslot,spin", "soft:spin,noslot");
	canonical_is("soft:size=512M+256M", "soft:size=512M+256M");
	canonical_is("soft:size=4096", "soft:size=4K");
	canonical_is("soft:size=12288", "soft:size=12K");
}

static void options_parsed(void **state)
{
	struct soft_options o;

	assert_int_equal(soft_address_parse("soft:size=512M+256M,lba=4096,mdts=0,queues=8", &o), 0);
	assert_int_equal(o.ns, 2);
	assert_int_equal(o.size[0], 512ull << 20);
	assert_int_equal(o.size[1], 256ull << 20);
	assert_int_equal(o.lba, 4096);
	assert_int_equal(o.mdts, 0);
	assert_int_equal(o.queues, 8);
	assert_int_equal(o.cpu, -1);
	assert_false(o.null_mode);
	/* one size is every namespace's */
	assert_int_equal(soft_address_parse("soft:ns=3,size=64M", &o), 0);
	assert_int_equal(o.size[2], 64ull << 20);
}

static void bad_options_named(void **state)
{
	refused("soft:bogus", "unknown option 'bogus'");
	refused("soft:null=1", "unknown option 'null'");
	refused("soft:size=12", "size=12 is not a number in 4096..");
	refused("soft:size=1X", "size=1X");
	refused("soft:size=-1", "size=-1");
	refused("soft:lba=1000", "lba=1000 is not 512, 1024, 2048 or 4096");
	refused("soft:ns=0", "ns=0");
	refused("soft:ns=17", "ns=17");
	refused("soft:ns=3,size=1M+2M", "ns=3 but 2 sizes");
	refused("soft:lba=4096,size=6K", "not a multiple of the LBA size");
	refused("soft:depth=1", "depth=1");
	refused("soft:mdts=17", "mdts=17");
	refused("soft:cpu=x", "cpu=x");
	refused("hard", "not a software controller address");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(recognises_soft_addresses),
		cmocka_unit_test(one_name_per_device),
		cmocka_unit_test(options_parsed),
		cmocka_unit_test(bad_options_named),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
